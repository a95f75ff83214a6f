/* Whether a TCP connection the box opens may leave, decided when libslirp connect()s its
 * host socket (docs/network.md "Allow-list"). */
#ifndef BOXLITE_NETD_EGRESS_H
#define BOXLITE_NETD_EGRESS_H

#include <netinet/in.h>
#include <stdint.h>

#include "policy.h"

enum egress_verdict {
  EGRESS_DIRECT, /* connect as asked */
  EGRESS_PROXY,  /* connect to netd's proxy, which decides by the name the client asks for */
  EGRESS_DNS,    /* DNS over TCP to the gateway: connect to the first upstream resolver */
  EGRESS_REFUSE, /* the box gets a reset */
};

/* dst is the address libslirp connects to: the host alias is already 127.0.0.1 there.
 * port is in host order. */
enum egress_verdict egress_decide(const struct net_policy *p, struct in_addr dst, uint16_t port);

#endif
