#include "egress.h"

#include <arpa/inet.h>
#include <stdbool.h>

#include "netd.h"

static bool name_checked_port(uint16_t port) {
  return port == 80 || port == 443;
}

enum egress_verdict egress_decide(const struct net_policy *p, struct in_addr dst, uint16_t port) {
  uint32_t a = ntohl(dst.s_addr);
  if (a == NET_LOOPBACK) return EGRESS_DIRECT;
  /* A resolver retries over TCP when an answer did not fit in UDP. Under an allow-list the
   * gateway answers UDP only: a stream of queries netd does not read could ask anything. */
  if (a == NET_GATEWAY && port == 53 && !policy_restricted(p)) return EGRESS_DNS;
  if (net_unroutable(a) || net_in_subnet(a)) return EGRESS_REFUSE;
  if (!policy_restricted(p) || policy_ip_allowed(p, dst)) return EGRESS_DIRECT;
  if (name_checked_port(port)) return EGRESS_PROXY;
  return policy_ip_learned(p, dst) ? EGRESS_DIRECT : EGRESS_REFUSE;
}
