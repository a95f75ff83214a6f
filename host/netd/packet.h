/* Ethernet, IPv4, UDP and TCP as netd reads them from the box, and the UDP frames it writes
 * back itself (DNS answers). Bounds-checked views into the frame; no I/O. */
#ifndef BOXLITE_NETD_PACKET_H
#define BOXLITE_NETD_PACKET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PACKET_ETH_HLEN 14u
#define PACKET_IP_HLEN 20u /* without options */
#define PACKET_IP_MAX 65535u /* the largest datagram, its header included */
#define PACKET_MTU 1500u
#define PACKET_ETHERTYPE_IPV4 0x0800u
#define PACKET_ETHERTYPE_ARP 0x0806u
#define TCP_FLAG_FIN 0x01u
#define TCP_FLAG_SYN 0x02u
#define TCP_FLAG_RST 0x04u
#define TCP_FLAG_ACK 0x10u
#define TCP_FLAG_URG 0x20u

struct ipv4_view {
  struct in_addr src, dst;
  uint8_t proto;       /* IPPROTO_* */
  bool fragment;       /* one piece of a fragmented datagram */
  bool has_header;     /* the first piece (or whole): its payload starts with the transport header */
  bool more;           /* more fragments follow (MF) */
  uint16_t id;
  uint32_t offset;     /* of this piece's payload in the datagram's, in bytes */
  const uint8_t *header; /* the IP header */
  const uint8_t *payload; /* what follows the IP header, up to the packet's total length */
  size_t payload_len;
};

struct l4_view {
  uint16_t sport, dport;
  uint8_t tcp_flags; /* TCP only */
  const uint8_t *data; /* UDP only: the datagram's payload */
  size_t data_len;
};

/* The frame's EtherType, or 0 when it is shorter than an Ethernet header. */
uint16_t packet_ethertype(const uint8_t *frame, size_t len);
/* Reads an Ethernet frame carrying IPv4. 0, or -1 when it is not one or is malformed. */
int packet_ipv4(const uint8_t *frame, size_t len, struct ipv4_view *ip);
/* The UDP header and payload of a whole (unfragmented) datagram. 0, or -1. */
int packet_udp(const struct ipv4_view *ip, struct l4_view *udp);
/* The ports and flags of a TCP segment's header. 0, or -1. */
int packet_tcp(const struct ipv4_view *ip, struct l4_view *tcp);

/* Clears a TCP segment's URG flag and urgent pointer (its checksum kept right), so its bytes
 * are plain data: libslirp 4.7.0 trusts the urgent pointer past the data it holds
 * (sosendoob, fixed in libslirp 4.9.2) and would send the host its own memory. ip is frame's. */
void packet_tcp_drop_urgent(uint8_t *frame, const struct ipv4_view *ip);

/* Sets the checksum of an IPv4 header without options. */
void packet_ipv4_checksum(uint8_t *header);

/* Where a UDP datagram netd writes goes, and whom it claims to come from. */
struct udp_route {
  uint8_t src_mac[6], dst_mac[6];
  struct in_addr src, dst;
  uint16_t sport, dport; /* host order */
};

typedef void (*packet_out_fn)(void *ctx, const uint8_t *frame, size_t len);

/* Writes one UDP datagram as Ethernet frames no larger than the MTU allows (IPv4 fragments
 * when it must), checksummed, each passed to out. -1 when payload is too long for UDP. */
int packet_udp_frames(const struct udp_route *r, uint16_t ip_id, const uint8_t *payload, size_t len, packet_out_fn out, void *ctx);

#endif
