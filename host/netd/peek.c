/*
 * The name a client asked for (peek.h). TLS layouts from RFC 8446 (5.1 records, 4.1.2
 * ClientHello, 3.4 vectors) and RFC 6066 3 (server_name); HTTP from RFC 9112.
 */
#include "peek.h"

#include <stdbool.h>
#include <string.h>

#include "hostname.h"

#define TLS_RECORD_HEADER 5
#define TLS_HANDSHAKE_HEADER 4
#define TLS_CONTENT_HANDSHAKE 22
#define TLS_CLIENT_HELLO 1
#define TLS_RECORD_MAX 16384 /* 5.1: a plaintext fragment holds 2^14 bytes at most */
#define TLS_RANDOM_LEN 32
#define TLS_EXT_SERVER_NAME 0
#define SNI_HOST_NAME 0
#define METHOD_MAX 16 /* longer than any registered method: a longer run is not a request line */
#define HTTP_VERSION_LEN 8 /* "HTTP/1.x" */

/* Copies a name lowercase, its trailing dot dropped; name is left alone unless it is found. */
static enum peek_result copy_name(const uint8_t *s, size_t n, char *name, size_t cap) {
  if (n && s[n - 1] == '.') n--;
  if (n == 0 || n >= cap) return PEEK_NONE;
  for (size_t i = 0; i < n; i++) {
    bool label_ends = i + 1 == n || s[i + 1] == '.';
    if (s[i] == '.' ? label_ends || i == 0 : !hostname_byte(s[i])) return PEEK_NONE; /* an empty label, or an odd byte */
  }
  for (size_t i = 0; i < n; i++) name[i] = (char)ascii_lower(s[i]);
  name[n] = '\0';
  return PEEK_FOUND;
}

/* What is left of a TLS structure to read. */
struct cursor {
  const uint8_t *p;
  size_t left;
};

/* Takes n bytes off the front of c (into *part, when given); false when fewer are left. */
static bool take(struct cursor *c, size_t n, struct cursor *part) {
  if (n > c->left) return false;
  if (part) *part = (struct cursor){c->p, n};
  c->p += n;
  c->left -= n;
  return true;
}

/* Takes a vector: a big-endian length of `width` bytes, then that many bytes. */
static bool take_vector(struct cursor *c, size_t width, struct cursor *vec) {
  struct cursor len;
  if (!take(c, width, &len)) return false;
  size_t n = 0;
  for (size_t i = 0; i < width; i++) n = n << 8 | len.p[i];
  return take(c, n, vec);
}

/* Finds the one element of type `type` in a list of (type of `width` bytes, vector with a
 * `len_width`-byte length); false when the list is malformed, lacks it or repeats it. */
static bool take_only(struct cursor list, size_t width, size_t len_width, unsigned type, struct cursor *found) {
  bool seen = false;
  while (list.left) {
    struct cursor t, body;
    if (!take(&list, width, &t) || !take_vector(&list, len_width, &body)) return false;
    unsigned got = width == 2 ? (unsigned)t.p[0] << 8 | t.p[1] : t.p[0];
    if (got != type) continue;
    if (seen) return false;
    seen = true;
    *found = body;
  }
  return seen;
}

/* The ClientHello's body, from legacy_version on. */
static enum peek_result read_client_hello(struct cursor hello, char *name, size_t cap) {
  struct cursor skipped, exts, sni, list, host;
  /* legacy_version and random, then legacy_session_id, cipher_suites, legacy_compression_methods. */
  if (!take(&hello, 2 + TLS_RANDOM_LEN, NULL) || !take_vector(&hello, 1, &skipped) || !take_vector(&hello, 2, &skipped) ||
      !take_vector(&hello, 1, &skipped))
    return PEEK_NONE;
  /* Extensions (absent: no name), server_name among them, its ServerNameList the whole of it. */
  if (!take_vector(&hello, 2, &exts) || !take_only(exts, 2, 2, TLS_EXT_SERVER_NAME, &sni)) return PEEK_NONE;
  if (!take_vector(&sni, 2, &list) || sni.left || !take_only(list, 1, 2, SNI_HOST_NAME, &host)) return PEEK_NONE;
  return copy_name(host.p, host.left, name, cap);
}

enum peek_result peek_tls_sni(const uint8_t *buf, size_t len, char *name, size_t cap) {
  /* Each header byte is judged as it comes: content type, legacy_record_version 3.x, and
   * (after the record length) the handshake type. */
  if (len > 0 && buf[0] != TLS_CONTENT_HANDSHAKE) return PEEK_NONE;
  if (len > 1 && buf[1] != 3) return PEEK_NONE;
  if (len > TLS_RECORD_HEADER && buf[TLS_RECORD_HEADER] != TLS_CLIENT_HELLO) return PEEK_NONE;
  if (len < TLS_RECORD_HEADER) return PEEK_NEED_MORE;
  size_t record = (size_t)buf[3] << 8 | buf[4];
  if (record < TLS_HANDSHAKE_HEADER || record > TLS_RECORD_MAX) return PEEK_NONE;
  size_t start = TLS_RECORD_HEADER + TLS_HANDSHAKE_HEADER;
  if (len < start) return PEEK_NEED_MORE;
  size_t hello = (size_t)buf[6] << 16 | (size_t)buf[7] << 8 | buf[8];
  if (hello > record - TLS_HANDSHAKE_HEADER) return PEEK_NONE;
  if (len - start < hello) return PEEK_NEED_MORE;
  return read_client_hello((struct cursor){buf + start, hello}, name, cap);
}

/* The end of the head (just past the blank line), 0 while it has not come, or -1 for a byte
 * no request head holds: a control byte, or a CR not before a LF (RFC 9112 2.2 lets a bare CR
 * be refused; proxies that read it otherwise than the server are a smuggling risk). */
static long head_end(const uint8_t *buf, size_t len) {
  size_t line = 0;
  for (size_t i = 0; i < len; i++) {
    uint8_t c = buf[i];
    if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f) return -1;
    if (c == '\r' && i + 1 < len && buf[i + 1] != '\n') return -1;
    if (c != '\n') continue;
    size_t text = i - line - (i > line && buf[i - 1] == '\r');
    if (text == 0) return (long)(i + 1);
    line = i + 1;
  }
  return 0;
}

/* The line at *pos of a head that ends at `end` with a blank line (so every line ends in LF);
 * *n is its length without CR LF, and *pos moves to the next. */
static const uint8_t *next_line(const uint8_t *buf, size_t end, size_t *pos, size_t *n) {
  const uint8_t *line = buf + *pos;
  const uint8_t *lf = memchr(line, '\n', end - *pos);
  *n = (size_t)(lf - line) - (lf > line && lf[-1] == '\r');
  *pos += (size_t)(lf - line) + 1;
  return line;
}

/* RFC 9110 5.6.2: the bytes of a field name. */
static bool is_tchar(uint8_t c) { return hostname_byte(c) || (c && strchr("!#$%&'*+.^`|~", c)); }

/* Whether the field name line[0, n) is `lower`, case-insensitively. */
static bool field_is(const uint8_t *line, size_t n, const char *lower) {
  if (n != strlen(lower)) return false;
  for (size_t i = 0; i < n; i++)
    if (ascii_lower(line[i]) != (unsigned char)lower[i]) return false;
  return true;
}

/* Whether a request line is METHOD SP (path or "*") SP HTTP/1.x; the method was checked already. */
static bool is_request_line(const uint8_t *line, size_t n) {
  const uint8_t *target = memchr(line, ' ', n);
  const uint8_t *end = line + n;
  const uint8_t *version = memchr(target + 1, ' ', (size_t)(end - target - 1));
  if (!version || version == target + 1) return false;
  bool origin = target[1] == '/' || (version == target + 2 && target[1] == '*');
  version++;
  return origin && end - version == HTTP_VERSION_LEN && memcmp(version, "HTTP/1.", 7) == 0 && version[7] >= '0' && version[7] <= '9';
}

enum peek_result peek_http_host(const uint8_t *buf, size_t len, char *name, size_t cap) {
  /* The method is judged as it comes, so that TLS or SSH bytes are PEEK_NONE at once. */
  size_t i = 0;
  for (; i < len && buf[i] != ' '; i++)
    if (i == METHOD_MAX || buf[i] < 'A' || buf[i] > 'Z') return PEEK_NONE;
  if (i == 0 && len > 0) return PEEK_NONE;
  long end = head_end(buf, len);
  if (end < 0) return PEEK_NONE;
  if (end == 0) return PEEK_NEED_MORE;
  size_t pos = 0, n;
  const uint8_t *line = next_line(buf, (size_t)end, &pos, &n);
  if (!is_request_line(line, n)) return PEEK_NONE;
  const uint8_t *host = NULL;
  size_t host_len = 0;
  for (line = next_line(buf, (size_t)end, &pos, &n); n > 0; line = next_line(buf, (size_t)end, &pos, &n)) {
    const uint8_t *colon = memchr(line, ':', n);
    if (!colon || colon == line) return PEEK_NONE;
    size_t field = (size_t)(colon - line);
    /* A folded line (it starts with a space) and "Host :" too: RFC 9112 5.1 and 5.2 refuse both. */
    for (size_t k = 0; k < field; k++)
      if (!is_tchar(line[k])) return PEEK_NONE;
    if (!field_is(line, field, "host")) continue;
    if (host) return PEEK_NONE;
    host = colon + 1;
    host_len = n - field - 1;
    while (host_len && (*host == ' ' || *host == '\t')) {
      host++;
      host_len--;
    }
    while (host_len && (host[host_len - 1] == ' ' || host[host_len - 1] == '\t')) host_len--;
  }
  if (!host) return PEEK_NONE;
  /* uri-host [":" port], port = *DIGIT (RFC 9110 7.2); a bracketed IPv6 literal has no name. */
  const uint8_t *colon = memchr(host, ':', host_len);
  if (colon) {
    for (const uint8_t *d = colon + 1; d < host + host_len; d++)
      if (*d < '0' || *d > '9') return PEEK_NONE;
    host_len = (size_t)(colon - host);
  }
  return copy_name(host, host_len, name, cap);
}
