/* Peeking at a connection's first bytes: TLS SNI from real ClientHellos, HTTP Host. */
#include "peek.h"
#include "test.h"
#include "test_vectors.h"

#define BUF_MAX 2048
#define NAME_CAP 256

/* Peeks at an exact-size copy (so ASan sees any over-read) into a name buffer of exactly cap. */
static enum peek_result peek(bool tls, const void *bytes, size_t len, size_t cap, char *found) {
  uint8_t *copy = copy_exact(bytes, len);
  char *name = malloc(cap ? cap : 1);
  enum peek_result r = tls ? peek_tls_sni(copy, len, name, cap) : peek_http_host(copy, len, name, cap);
  if (r == PEEK_FOUND) {
    CHECK(strlen(name) < cap);
    if (found) strcpy(found, name);
  }
  free(name);
  free(copy);
  return r;
}

static void put16(uint8_t *p, size_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* A ClientHello in one record around the given extensions block; exts NULL: no extensions. */
static size_t hello_with(const uint8_t *exts, size_t n, uint8_t *out) {
  static const uint8_t head[] = {22, 3, 1, 0, 0, 1, 0, 0, 0, 3, 3};
  static const uint8_t tail[] = {0, 0, 2, 0x13, 0x01, 1, 0}; /* no session id, one suite, null compression */
  size_t pos = sizeof head;
  memcpy(out, head, pos);
  memset(out + pos, 0x11, 32); /* random */
  pos += 32;
  memcpy(out + pos, tail, sizeof tail);
  pos += sizeof tail;
  if (exts) {
    put16(out + pos, n);
    memcpy(out + pos + 2, exts, n);
    pos += 2 + n;
  }
  put16(out + 3, pos - 5);
  put16(out + 7, pos - 9);
  return pos;
}

/* A server_name extension holding the given (type, name) entries. */
static size_t sni_ext(uint8_t *out, const uint8_t *types, const char *const *names, size_t count) {
  size_t pos = 6;
  for (size_t i = 0; i < count; i++) {
    size_t n = strlen(names[i]);
    out[pos] = types[i];
    put16(out + pos + 1, n);
    memcpy(out + pos + 3, names[i], n);
    pos += 3 + n;
  }
  put16(out, 0);
  put16(out + 2, pos - 4);
  put16(out + 4, pos - 6);
  return pos;
}

static size_t hello_for(const char *name, uint8_t *out) {
  uint8_t ext[300];
  static const uint8_t host_name[] = {0};
  return hello_with(ext, sni_ext(ext, host_name, &name, 1), out);
}

static void check_prefixes_need_more(bool tls, const void *bytes, size_t len) {
  int wrong = 0;
  for (size_t cut = 0; cut < len; cut++) wrong += peek(tls, bytes, cut, NAME_CAP, NULL) != PEEK_NEED_MORE;
  CHECK(wrong == 0);
}

static void test_reads_sni_from_real_client_hellos(void) {
  char name[NAME_CAP];
  CHECK(peek(true, hello_openssl, sizeof hello_openssl, NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "x.test");
  CHECK(peek(true, hello_openssl_tls12, sizeof hello_openssl_tls12, NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "www.example.test");
  CHECK(peek(true, hello_curl, sizeof hello_curl, NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "api.example.test");
  check_prefixes_need_more(true, hello_openssl, sizeof hello_openssl);
  check_prefixes_need_more(true, hello_openssl_tls12, sizeof hello_openssl_tls12);
  check_prefixes_need_more(true, hello_curl, sizeof hello_curl);
  /* What follows the record (more records, early data) does not matter. */
  uint8_t buf[BUF_MAX];
  memcpy(buf, hello_curl, sizeof hello_curl);
  memset(buf + sizeof hello_curl, 0x17, 100);
  CHECK(peek(true, buf, sizeof hello_curl + 100, NAME_CAP, name) == PEEK_FOUND);
  /* The name and its NUL need cap bytes. */
  CHECK(peek(true, hello_openssl, sizeof hello_openssl, 7, name) == PEEK_FOUND);
  CHECK(peek(true, hello_openssl, sizeof hello_openssl, 6, name) == PEEK_NONE);
  CHECK(peek(true, hello_openssl, sizeof hello_openssl, 0, name) == PEEK_NONE);
}

static void test_tls_names_are_clean_and_single(void) {
  uint8_t buf[BUF_MAX], ext[600];
  char name[NAME_CAP];
  CHECK(peek(true, buf, hello_for("Example.COM.", buf), NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "example.com");
  const char *odd[] = {"", ".", "..", "a..", ".a", "a..b", "a b.com", "a/b", "a:443", "\xc3\xa9.com", "a\x01.com", "a\\.com"};
  for (size_t i = 0; i < sizeof odd / sizeof *odd; i++) CHECK(peek(true, buf, hello_for(odd[i], buf), NAME_CAP, name) == PEEK_NONE);
  char nul[] = "a\0b.com";
  size_t len = hello_for("aXb.com", buf);
  memcpy(memchr(buf, 'X', len), nul + 1, 1);
  CHECK(peek(true, buf, len, NAME_CAP, name) == PEEK_NONE);

  /* A second host_name, or a second server_name extension: the server might read the other one. */
  static const uint8_t two_hosts[] = {0, 0}, other_then_host[] = {1, 0}, other_only[] = {1};
  const char *names[] = {"a.test", "b.test"};
  CHECK(peek(true, buf, hello_with(ext, sni_ext(ext, two_hosts, names, 2), buf), NAME_CAP, name) == PEEK_NONE);
  CHECK(peek(true, buf, hello_with(ext, sni_ext(ext, other_then_host, names, 2), buf), NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "b.test");
  CHECK(peek(true, buf, hello_with(ext, sni_ext(ext, other_only, names, 1), buf), NAME_CAP, name) == PEEK_NONE);
  size_t one = sni_ext(ext, two_hosts, names, 1);
  ext[3]++; /* a byte in server_name after its list */
  ext[one] = 0;
  CHECK(peek(true, buf, hello_with(ext, one + 1, buf), NAME_CAP, name) == PEEK_NONE);
  ext[3]--;
  memcpy(ext + one, ext, one);
  CHECK(peek(true, buf, hello_with(ext, 2 * one, buf), NAME_CAP, name) == PEEK_NONE);

  /* Other extensions around it are walked past; without it, or without extensions, no name. */
  static const uint8_t alpn[] = {0, 16, 0, 5, 0, 3, 2, 'h', '2'}, empty_ext[] = {0xff, 0x01, 0, 0};
  size_t n = 0;
  memcpy(ext, alpn, sizeof alpn), n += sizeof alpn;
  memcpy(ext + n, empty_ext, sizeof empty_ext), n += sizeof empty_ext;
  CHECK(peek(true, buf, hello_with(ext, n, buf), NAME_CAP, name) == PEEK_NONE);
  n += sni_ext(ext + n, two_hosts, names, 1);
  CHECK(peek(true, buf, hello_with(ext, n, buf), NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "a.test");
  CHECK(peek(true, buf, hello_with(NULL, 0, buf), NAME_CAP, name) == PEEK_NONE);
  CHECK(peek(true, buf, hello_with(ext, 0, buf), NAME_CAP, name) == PEEK_NONE);
}

static void test_refuses_what_is_no_client_hello(void) {
  uint8_t buf[BUF_MAX];
  char name[NAME_CAP];
  CHECK(peek(true, "", 0, NAME_CAP, name) == PEEK_NEED_MORE);
  CHECK(peek(true, "\x17", 1, NAME_CAP, name) == PEEK_NONE); /* application data */
  CHECK(peek(true, "\x16\x02", 2, NAME_CAP, name) == PEEK_NONE); /* not TLS 1.x's record version */
  CHECK(peek(true, "\x16\x03\x01\x00\x40\x02", 6, NAME_CAP, name) == PEEK_NONE); /* a ServerHello */
  CHECK(peek(true, "\x16\x03\x01\x00\x03", 5, NAME_CAP, name) == PEEK_NONE); /* shorter than a handshake header */
  CHECK(peek(true, "\x16\x03\x01\x40\x01", 5, NAME_CAP, name) == PEEK_NONE); /* 16385: longer than a record */
  CHECK(peek(true, "\x16\x03\x01\x40\x00", 5, NAME_CAP, name) == PEEK_NEED_MORE); /* 16384 is the most */
  CHECK(peek(true, "\x80\x2e\x01", 3, NAME_CAP, name) == PEEK_NONE); /* SSLv2's hello */
  CHECK(peek(true, request_curl, strlen(request_curl), NAME_CAP, name) == PEEK_NONE);
  /* A ClientHello longer than its record continues in the next one: not read. */
  memcpy(buf, hello_curl, sizeof hello_curl);
  put16(buf + 3, sizeof hello_curl - 5 - 1);
  CHECK(peek(true, buf, sizeof hello_curl, NAME_CAP, name) == PEEK_NONE);
  /* The session id one byte longer, or the extensions', server_name's, its list's or the
   * host_name's length one off either way: the vectors no longer nest. */
  size_t len = hello_for("a.test", buf);
  static const struct {
    size_t at;
    int delta;
  } edits[] = {{43, 1}, {51, 1}, {51, -1}, {55, 1}, {55, -1}, {57, 1}, {57, -1}, {60, 1}, {60, -1}};
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    buf[edits[i].at] = (uint8_t)(buf[edits[i].at] + edits[i].delta);
    enum peek_result r = peek(true, buf, len, NAME_CAP, name);
    if (r != PEEK_NONE) fprintf(stderr, "length at %zu off by %d: %d\n", edits[i].at, edits[i].delta, r);
    CHECK(r == PEEK_NONE);
    buf[edits[i].at] = (uint8_t)(buf[edits[i].at] - edits[i].delta);
  }
  CHECK(peek(true, buf, len, NAME_CAP, name) == PEEK_FOUND);
}

static void test_reads_the_host_of_a_real_http_request(void) {
  char name[NAME_CAP];
  CHECK(peek(false, request_curl, strlen(request_curl), NAME_CAP, name) == PEEK_FOUND);
  CHECK_STR(name, "api.example.test");
  check_prefixes_need_more(false, request_curl, strlen(request_curl));
  CHECK(peek(false, request_curl, strlen(request_curl), sizeof "api.example.test", name) == PEEK_FOUND);
  CHECK(peek(false, request_curl, strlen(request_curl), sizeof "api.example.test" - 1, name) == PEEK_NONE);
}

static void test_http_heads(void) {
  static const struct {
    const char *head;
    enum peek_result want;
    const char *name;
  } cases[] = {
      {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", PEEK_FOUND, "example.com"},
      {"GET / HTTP/1.1\nhost:Example.COM.\n\n", PEEK_FOUND, "example.com"},
      {"POST /x HTTP/1.0\r\nAccept: */*\r\nHOST: \t a.test:8080 \t\r\nX: y\r\n\r\nbody", PEEK_FOUND, "a.test"},
      {"OPTIONS * HTTP/1.1\r\nHost: a.test:\r\n\r\n", PEEK_FOUND, "a.test"},
      {"GET / HTTP/1.1\r\nX-Host: evil.test\r\nHost: a.test\r\n\r\n", PEEK_FOUND, "a.test"},
      {"GET / HTTP/1.1\r\nHost: 10.0.0.1\r\n\r\n", PEEK_FOUND, "10.0.0.1"},
      {"GET / HTTP/1.1\r\n\r\n", PEEK_NONE, NULL}, /* no Host */
      {"GET / HTTP/1.0\r\nAccept: */*\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n", PEEK_NONE, NULL}, /* two */
      {"GET / HTTP/1.1\r\nHost: a.test\r\nhost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost :a.test\r\n\r\n", PEEK_NONE, NULL}, /* space before the colon */
      {"GET / HTTP/1.1\r\nX: y\r\n Host: a.test\r\n\r\n", PEEK_NONE, NULL}, /* a folded line */
      {"GET / HTTP/1.1\r\nHost:\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost: a.test:http\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost: a b.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost: user@a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nNoColon\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET http://other.test/ HTTP/1.1\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL}, /* a proxy request */
      {"CONNECT other.test:443 HTTP/1.1\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET  / HTTP/1.1\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1 \r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/2.0\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.x\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1./\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GET /\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL}, /* HTTP/0.9 */
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", PEEK_NONE, NULL}, /* HTTP/2's preface */
      {"get / HTTP/1.1\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL},
      {"GETGETGETGETGETGET / HTTP/1.1\r\n", PEEK_NONE, NULL}, /* no method is that long */
      {"SSH-2.0-OpenSSH_9.2\r\n", PEEK_NONE, NULL},
      {" GET / HTTP/1.1\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nX: a\rb\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL}, /* a bare CR */
      {"GET / HTTP/1.1\r\n: x\r\nHost: a.test\r\n\r\n", PEEK_NONE, NULL}, /* a field without a name */
      {"GET / HTTP/1.1\r\nHost: a.\x01test\r\n", PEEK_NONE, NULL}, /* a control byte, judged early */
      {"GET / HTTP/1.1\r\nX: \x7f\r\n", PEEK_NONE, NULL},
      {"GET / HTTP/1.1\r\nHost: a.test\r\n\r", PEEK_NEED_MORE, NULL},
      {"GET / HTTP/1.1\r\nHost: a.test\r\n", PEEK_NEED_MORE, NULL},
      {"GETGETGETGETGETG", PEEK_NEED_MORE, NULL}, /* 16 letters may still be a method */
  };
  char name[NAME_CAP];
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    enum peek_result r = peek(false, cases[i].head, strlen(cases[i].head), NAME_CAP, name);
    if (r != cases[i].want) fprintf(stderr, "%zu: %d, want %d: %s\n", i, r, cases[i].want, cases[i].head);
    CHECK(r == cases[i].want);
    if (r == PEEK_FOUND && cases[i].name) CHECK_STR(name, cases[i].name);
  }
  CHECK(peek(false, "GET / HTTP/1.1\r\nX: \0\r\n", 20, NAME_CAP, name) == PEEK_NONE);
  CHECK(peek(false, hello_curl, sizeof hello_curl, NAME_CAP, name) == PEEK_NONE);
}

/* Random edits of the real bytes: nothing crashes or reads out of bounds, and a name found is
 * lowercase host-name bytes within cap. */
static void fuzz_peeks(void) {
  static const struct {
    bool tls;
    const void *bytes;
    size_t len;
  } seeds[] = {{true, hello_openssl, sizeof hello_openssl},
               {true, hello_openssl_tls12, sizeof hello_openssl_tls12},
               {true, hello_curl, sizeof hello_curl},
               {false, request_curl, sizeof request_curl - 1}};
  uint8_t buf[BUF_MAX];
  char name[NAME_CAP];
  int found[2] = {0, 0};
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    size_t seed = pick(sizeof seeds / sizeof *seeds);
    memcpy(buf, seeds[seed].bytes, seeds[seed].len);
    size_t len = mutate(buf, seeds[seed].len, sizeof buf);
    size_t cap = pick(4) ? NAME_CAP : pick(20);
    for (int tls = 0; tls < 2; tls++) {
      name[0] = '\0';
      enum peek_result r = peek(tls, buf, len, cap, name);
      CHECK(r == PEEK_NEED_MORE || r == PEEK_FOUND || r == PEEK_NONE);
      if (r != PEEK_FOUND) continue;
      found[tls]++;
      size_t n = strlen(name);
      CHECK(n > 0 && n < cap && strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789-_.") == n && name[n - 1] != '.');
    }
  }
  CHECK(found[0] > FUZZ_ROUNDS / 40 && found[1] > FUZZ_ROUNDS / 20); /* the fuzz reaches past the checks */
}

int main(void) {
  test_reads_sni_from_real_client_hellos();
  test_tls_names_are_clean_and_single();
  test_refuses_what_is_no_client_hello();
  test_reads_the_host_of_a_real_http_request();
  test_http_heads();
  fuzz_peeks();
  return test_finish("test_peek");
}
