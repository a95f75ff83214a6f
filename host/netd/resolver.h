/* The box's DNS server at 192.168.127.1:53 (docs/network.md "DNS"): host.boxlite.internal is
 * answered here, names the allow-list refuses get NXDOMAIN, the rest go to the upstream
 * resolvers from netd's own socket, and their answers come back as frames netd writes. The A
 * answers of allowed names are remembered (policy_learn). */
#ifndef BOXLITE_NETD_RESOLVER_H
#define BOXLITE_NETD_RESOLVER_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "netd.h"
#include "pollset.h"

struct resolver;

/* NULL with why in err. No upstreams: every forwarded query gets SERVFAIL. */
struct resolver *resolver_new(struct netd *n, const struct sockaddr_in *upstreams, size_t count, char *err, size_t errlen);
void resolver_free(struct resolver *r);
/* The upstream that takes the box's DNS over TCP (the first), or NULL when there is none. */
const struct sockaddr_in *resolver_tcp_upstream(const struct resolver *r);
/* A frame filter_frame gave FRAME_DNS. */
void resolver_query(struct resolver *r, const uint8_t *frame, size_t len);
void resolver_fill(struct resolver *r, struct pollset *ps, int64_t now);

#endif
