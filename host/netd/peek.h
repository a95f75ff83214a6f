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

/* A TLS ClientHello's server_name (host_name type) extension, read from the first TLS
 * record only: a ClientHello that does not fit in one record is PEEK_NONE. */
enum peek_result peek_tls_sni(const uint8_t *buf, size_t len, char *name, size_t cap);

/* An HTTP/1.x request's Host header (its port stripped). */
enum peek_result peek_http_host(const uint8_t *buf, size_t len, char *name, size_t cap);

#endif
