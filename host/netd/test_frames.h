/* Frames for netd's C tests: what a box sends, built field by field. */
#ifndef BOXLITE_NETD_TEST_FRAMES_H
#define BOXLITE_NETD_TEST_FRAMES_H

#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>

#include "packet.h"

static inline struct in_addr ip_of(const char *text) {
  struct in_addr a = {0};
  inet_pton(AF_INET, text, &a);
  return a;
}

static inline void put_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static inline uint16_t get_be16(const uint8_t *p) {
  return (uint16_t)(p[0] << 8 | p[1]);
}

/* The ones' complement sum of data, folded, not inverted: 0xffff over a part whose checksum is right. */
static inline uint16_t ones_sum(uint32_t sum, const uint8_t *p, size_t len) {
  for (; len > 1; p += 2, len -= 2) sum += get_be16(p);
  if (len) sum += (uint32_t)p[0] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* Writes an Ethernet frame from the box to dst carrying an IPv4 packet of `proto` with `l4`
 * (l4_len bytes) as its payload; frag is the flags-and-offset field. Returns the frame's length. */
static inline size_t build_frame(uint8_t *frame, const char *dst, uint8_t proto, uint16_t id, uint16_t frag, const uint8_t *l4, size_t l4_len) {
  static const uint8_t head[14] = {0x52, 0x55, 0xc0, 0xa8, 0x7f, 0x01, 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee, 0x08, 0x00};
  memcpy(frame, head, sizeof head);
  uint8_t *h = frame + 14;
  memset(h, 0, 20);
  h[0] = 0x45;
  put_be16(h + 2, (uint16_t)(20 + l4_len));
  put_be16(h + 4, id);
  put_be16(h + 6, frag);
  h[8] = 64;
  h[9] = proto;
  struct in_addr src = ip_of("192.168.127.2"), d = ip_of(dst);
  memcpy(h + 12, &src, 4);
  memcpy(h + 16, &d, 4);
  packet_ipv4_checksum(h);
  memcpy(h + 20, l4, l4_len);
  return 14 + 20 + l4_len;
}

/* A UDP header and payload (checksum left 0: "none", as RFC 768 allows). */
static inline size_t build_udp(uint8_t *out, uint16_t sport, uint16_t dport, const uint8_t *payload, size_t len) {
  put_be16(out, sport);
  put_be16(out + 2, dport);
  put_be16(out + 4, (uint16_t)(8 + len));
  put_be16(out + 6, 0);
  memcpy(out + 8, payload, len);
  return 8 + len;
}

#endif
