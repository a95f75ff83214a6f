/* netd's shared state: the box's topology, its figures, and the modules every part reaches. */
#ifndef BOXLITE_NETD_NETD_H
#define BOXLITE_NETD_NETD_H

#include <libslirp.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

/* The topology the box sees (docs/network.md), as host-order IPv4 addresses. */
#define NET_SUBNET 0xc0a87f00u     /* 192.168.127.0 */
#define NET_NETMASK 0xffffff00u    /* /24 */
#define NET_GATEWAY 0xc0a87f01u    /* the gateway and DNS server */
#define NET_GUEST 0xc0a87f02u      /* the box */
#define NET_HOST_ALIAS 0xc0a87ffeu /* host.boxlite.internal: libslirp's vhost, the host's 127.0.0.1 */
#define NET_LOOPBACK 0x7f000001u   /* where libslirp sends what the box sends to NET_HOST_ALIAS */
#define NET_HOST_NAME "host.boxlite.internal"

/* Addresses (host order) nothing from the box may reach, whatever the rules say: "this
 * network" and loopback reach the host itself (the box has 127.0.0.1 only as the host
 * alias), multicast and the reserved block with the limited broadcast (which libslirp would
 * hand to the host's loopback too) are nobody's. */
static inline bool net_unroutable(uint32_t a) {
  return (a >> 24) == 0 || (a >> 24) == 127 || (a >> 28) >= 0xe;
}

/* The box's own subnet: no hosts but the ones netd plays; libslirp would send anything else
 * to the same address on the host's networks. */
static inline bool net_in_subnet(uint32_t a) {
  return (a & NET_NETMASK) == NET_SUBNET;
}

/* docs/network.md "Control socket": bytes as the box sees them, TCP connections it made or
 * was handed, and those refused, denied or failed. */
struct netd_stats {
  uint64_t bytes_sent;
  uint64_t bytes_received;
  uint64_t tcp_connections;
  uint64_t tcp_errors;
};

struct vmm;
struct resolver;
struct proxy;
struct relays;
struct tunnels;
struct frags;

struct netd {
  Slirp *slirp;
  struct net_policy *policy;
  struct netd_stats stats;
  struct vmm *vmm;
  struct resolver *resolver;
  struct proxy *proxy;
  struct relays *relays;
  struct tunnels *tunnels;
  struct frags *frags;
};

/* Queues a frame for the box (counted as received by it); dropped when the box is away or slow. */
void netd_to_box(struct netd *n, const uint8_t *frame, size_t len);

#endif
