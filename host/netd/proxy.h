/* The proxy for ports 80 and 443 under an allow-list (docs/network.md "Allow-list"): libslirp's
 * socket is connected here instead of to its destination; the proxy reads the first bytes,
 * and only when the TLS SNI or HTTP Host names an allowed name that the box's resolver
 * answered with that destination does it dial the destination and relay. */
#ifndef BOXLITE_NETD_PROXY_H
#define BOXLITE_NETD_PROXY_H

#include <netinet/in.h>
#include <stdint.h>

#include "netd.h"
#include "pollset.h"

struct proxy;

/* Listens on 127.0.0.1 (a port the OS picks). NULL with why in err. */
struct proxy *proxy_new(struct netd *n, char *err, size_t errlen);
void proxy_free(struct proxy *p);
/* Connects libslirp's socket fd to the proxy in place of dst, which the proxy remembers by the
 * socket's port. connect()'s result. */
int proxy_divert(struct proxy *p, int fd, const struct sockaddr_in *dst);
void proxy_fill(struct proxy *p, struct pollset *ps, int64_t now);

#endif
