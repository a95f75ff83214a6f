#include "filter.h"

#include <arpa/inet.h>

#include "netd.h"
#include "packet.h"

#define DNS_PORT 53

enum frame_verdict filter_frame(const struct net_policy *p, const uint8_t *frame, size_t len) {
  uint16_t type = packet_ethertype(frame, len);
  if (type == PACKET_ETHERTYPE_ARP) return FRAME_SLIRP;
  struct ipv4_view ip;
  if (type != PACKET_ETHERTYPE_IPV4 || packet_ipv4(frame, len, &ip) < 0) return FRAME_DROP;
  uint32_t dst = ntohl(ip.dst.s_addr);
  if (net_unroutable(dst)) return FRAME_DROP;
  /* TCP's fate is decided at connect(), where a refusal reaches the box at once as a reset. */
  if (ip.proto == IPPROTO_TCP) return FRAME_SLIRP;
  if (ip.proto != IPPROTO_UDP && ip.proto != IPPROTO_ICMP) return FRAME_DROP;
  if (dst == NET_HOST_ALIAS) return FRAME_SLIRP;
  if (dst == NET_GATEWAY) {
    struct l4_view udp;
    if (packet_udp(&ip, &udp) == 0 && udp.dport == DNS_PORT) return FRAME_DNS;
    /* libslirp answers pings to the gateway itself; under an allow-list it answers DNS only. */
    return ip.proto == IPPROTO_ICMP && !policy_restricted(p) ? FRAME_SLIRP : FRAME_DROP;
  }
  if (net_in_subnet(dst)) return FRAME_DROP;
  if (!policy_restricted(p) || policy_ip_allowed(p, ip.dst)) return FRAME_SLIRP;
  return FRAME_DROP;
}
