/* The name a client asked for, read from the first bytes of a TCP connection before it is
 * let through: TLS SNI (ClientHello) or the HTTP Host header. */
#ifndef BOXLITE_NETD_PEEK_H
#define BOXLITE_NETD_PEEK_H

#include <stddef.h>
#include <stdint.h>

enum peek_result {
  PEEK_NEED_MORE, /* a prefix of what it looks for: read more (the caller bounds how much) */
  PEEK_FOUND,     /* the name is in `name`, lowercase, without a port or a trailing dot */
  PEEK_NONE,      /* not this protocol, or no name in it */
};

/* Both write a found name into name (cap bytes, NUL included). PEEK_NONE too when the name does
 * not fit, is empty, holds a byte other than letters, digits, '-', '_' and '.' or an empty label
 * (the allow-list judges the rest), or is given twice, since the server could then read another name than
 * netd did. */

/* A TLS ClientHello's server_name (host_name type) extension, read from the first TLS
 * record only: a ClientHello that does not fit in one record is PEEK_NONE, and so is one
 * without the extension, or with a second server_name extension or host_name. */
enum peek_result peek_tls_sni(const uint8_t *buf, size_t len, char *name, size_t cap);

/* An HTTP/1.x request's Host header (its port stripped), once the blank line that ends the
 * headers has come (CRLF or bare LF). PEEK_NONE: not a request line of an uppercase method, a
 * request target other than a path or "*" (a proxy's absolute form names a second host), no
 * Host or two, folded header lines, control bytes, a CR not before a LF. */
enum peek_result peek_http_host(const uint8_t *buf, size_t len, char *name, size_t cap);

#endif
