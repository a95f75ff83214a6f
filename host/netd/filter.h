/* What becomes of each frame the box sends, before libslirp sees it (docs/network.md
 * "Allow-list"): DNS to the gateway is netd's, IPv6 and what the rules refuse are dropped,
 * TCP goes on to libslirp, whose connect() netd decides (egress.h). */
#ifndef BOXLITE_NETD_FILTER_H
#define BOXLITE_NETD_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

enum frame_verdict {
  FRAME_SLIRP, /* libslirp's: ARP, TCP, and UDP or ICMP the rules let out */
  FRAME_DNS,   /* a whole UDP datagram to the gateway's port 53: the resolver's */
  FRAME_DROP,
};

enum frame_verdict filter_frame(const struct net_policy *p, const uint8_t *frame, size_t len);

#endif
