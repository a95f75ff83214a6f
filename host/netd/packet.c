#include "packet.h"

#include <string.h>

#define IP_HLEN PACKET_IP_HLEN
#define UDP_HLEN 8u
#define TCP_HLEN 20u
#define IP_MF 0x2000u
#define IP_OFFSET_MASK 0x1fffu
#define UDP_MAX_PAYLOAD (PACKET_IP_MAX - IP_HLEN - UDP_HLEN)

static uint16_t be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

uint16_t packet_ethertype(const uint8_t *frame, size_t len) {
  return len < PACKET_ETH_HLEN ? 0 : be16(frame + 12);
}

int packet_ipv4(const uint8_t *frame, size_t len, struct ipv4_view *ip) {
  if (packet_ethertype(frame, len) != PACKET_ETHERTYPE_IPV4) return -1;
  const uint8_t *h = frame + PACKET_ETH_HLEN;
  size_t avail = len - PACKET_ETH_HLEN;
  if (avail < IP_HLEN || h[0] >> 4 != 4) return -1;
  size_t hlen = (size_t)(h[0] & 0x0f) * 4;
  size_t total = be16(h + 2);
  /* Ethernet pads short frames, so the IP length, not the frame's, says where it ends. */
  if (hlen < IP_HLEN || total < hlen || total > avail) return -1;
  uint16_t frag = be16(h + 6);
  ip->proto = h[9];
  memcpy(&ip->src, h + 12, 4);
  memcpy(&ip->dst, h + 16, 4);
  ip->fragment = (frag & (IP_MF | IP_OFFSET_MASK)) != 0;
  ip->has_header = (frag & IP_OFFSET_MASK) == 0;
  ip->more = (frag & IP_MF) != 0;
  ip->id = be16(h + 4);
  ip->offset = (uint32_t)(frag & IP_OFFSET_MASK) * 8;
  ip->header = h;
  ip->payload = h + hlen;
  ip->payload_len = total - hlen;
  return 0;
}

int packet_udp(const struct ipv4_view *ip, struct l4_view *udp) {
  if (ip->proto != IPPROTO_UDP || ip->fragment || ip->payload_len < UDP_HLEN) return -1;
  size_t ulen = be16(ip->payload + 4);
  if (ulen < UDP_HLEN || ulen > ip->payload_len) return -1;
  *udp = (struct l4_view){
      .sport = be16(ip->payload),
      .dport = be16(ip->payload + 2),
      .data = ip->payload + UDP_HLEN,
      .data_len = ulen - UDP_HLEN,
  };
  return 0;
}

int packet_tcp(const struct ipv4_view *ip, struct l4_view *tcp) {
  if (ip->proto != IPPROTO_TCP || !ip->has_header || ip->payload_len < TCP_HLEN) return -1;
  *tcp = (struct l4_view){
      .sport = be16(ip->payload),
      .dport = be16(ip->payload + 2),
      .tcp_flags = ip->payload[13],
  };
  return 0;
}

/* RFC 1071: the ones' complement sum, folded, of data added to sum. */
static uint32_t sum16(uint32_t sum, const uint8_t *p, size_t len) {
  for (; len > 1; p += 2, len -= 2) sum += be16(p);
  if (len) sum += (uint32_t)p[0] << 8;
  return sum;
}

static uint16_t fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* RFC 1624: the checksum after one 16-bit word of what it covers went from old to new. */
static uint16_t checksum_update(uint16_t sum, uint16_t old, uint16_t new) {
  uint32_t s = (uint16_t)~sum + (uint32_t)(uint16_t)~old + new;
  return fold(s);
}

void packet_tcp_drop_urgent(uint8_t *frame, const struct ipv4_view *ip) {
  uint8_t *tcp = frame + (ip->payload - frame);
  uint16_t word = be16(tcp + 12), urp = be16(tcp + 18), sum = be16(tcp + 16);
  uint16_t cleared = (uint16_t)(word & ~TCP_FLAG_URG);
  sum = checksum_update(checksum_update(sum, word, cleared), urp, 0);
  put16(tcp + 12, cleared);
  put16(tcp + 18, 0);
  put16(tcp + 16, sum);
}

void packet_ipv4_checksum(uint8_t *h) {
  put16(h + 10, 0);
  put16(h + 10, fold(sum16(0, h, IP_HLEN)));
}

int packet_udp_frames(const struct udp_route *r, uint16_t ip_id, const uint8_t *payload, size_t len, packet_out_fn out, void *ctx) {
  if (len > UDP_MAX_PAYLOAD) return -1;
  uint8_t udp[UDP_HLEN];
  size_t ulen = UDP_HLEN + len;
  put16(udp, r->sport);
  put16(udp + 2, r->dport);
  put16(udp + 4, (uint16_t)ulen);
  put16(udp + 6, 0);
  uint8_t pseudo[12];
  memcpy(pseudo, &r->src, 4);
  memcpy(pseudo + 4, &r->dst, 4);
  pseudo[8] = 0;
  pseudo[9] = IPPROTO_UDP;
  put16(pseudo + 10, (uint16_t)ulen);
  uint16_t csum = fold(sum16(sum16(sum16(0, pseudo, sizeof pseudo), udp, UDP_HLEN), payload, len));
  put16(udp + 6, csum ? csum : 0xffff); /* 0 would mean "no checksum" (RFC 768) */

  /* Every fragment but the last carries a multiple of 8 bytes (the offset's unit). */
  const size_t chunk_max = (PACKET_MTU - IP_HLEN) & ~(size_t)7;
  uint8_t frame[PACKET_ETH_HLEN + PACKET_MTU];
  for (size_t off = 0; off < ulen;) {
    size_t chunk = ulen - off > chunk_max ? chunk_max : ulen - off;
    bool more = off + chunk < ulen;
    memcpy(frame, r->dst_mac, 6);
    memcpy(frame + 6, r->src_mac, 6);
    put16(frame + 12, PACKET_ETHERTYPE_IPV4);
    uint8_t *h = frame + PACKET_ETH_HLEN;
    h[0] = 0x45;
    h[1] = 0;
    put16(h + 2, (uint16_t)(IP_HLEN + chunk));
    put16(h + 4, ip_id);
    put16(h + 6, (uint16_t)((more ? IP_MF : 0) | off / 8));
    h[8] = 64;
    h[9] = IPPROTO_UDP;
    memcpy(h + 12, &r->src, 4);
    memcpy(h + 16, &r->dst, 4);
    packet_ipv4_checksum(h);
    /* The datagram is its UDP header then the payload; this fragment is [off, off + chunk). */
    uint8_t *p = h + IP_HLEN;
    size_t head = off < UDP_HLEN ? UDP_HLEN - off : 0;
    if (head > chunk) head = chunk;
    if (head) memcpy(p, udp + off, head);
    memcpy(p + head, payload + (off + head - UDP_HLEN), chunk - head);
    out(ctx, frame, PACKET_ETH_HLEN + IP_HLEN + chunk);
    off += chunk;
  }
  return 0;
}
