/* Reading the box's frames, writing netd's UDP answers (fragmented when they must be), and
 * clearing TCP's urgent data: against the bytes, and fuzzed. */
#include <stdlib.h>

#include "frag.h"
#include "packet.h"
#include "test.h"
#include "test_frames.h"

static void test_reads_an_ipv4_frame_and_its_udp(void) {
  uint8_t frame[256], udp[64];
  size_t ulen = build_udp(udp, 40000, 53, (const uint8_t *)"query", 5);
  size_t len = build_frame(frame, "192.168.127.1", IPPROTO_UDP, 7, 0, udp, ulen);
  struct ipv4_view ip;
  struct l4_view u;
  CHECK(packet_ethertype(frame, len) == PACKET_ETHERTYPE_IPV4);
  CHECK(packet_ipv4(frame, len, &ip) == 0);
  CHECK(ip.src.s_addr == ip_of("192.168.127.2").s_addr && ip.dst.s_addr == ip_of("192.168.127.1").s_addr);
  CHECK(ip.proto == IPPROTO_UDP && !ip.fragment && ip.has_header && ip.id == 7 && ip.payload_len == ulen);
  CHECK(packet_udp(&ip, &u) == 0 && u.sport == 40000 && u.dport == 53 && u.data_len == 5 && memcmp(u.data, "query", 5) == 0);
  CHECK(packet_tcp(&ip, &u) == -1);
  /* Ethernet's padding is not the packet's. */
  memset(frame + len, 0xaa, 20);
  CHECK(packet_ipv4(frame, len + 20, &ip) == 0 && ip.payload_len == ulen);
}

static void test_refuses_what_is_not_a_whole_ipv4_header(void) {
  uint8_t frame[256], udp[64];
  size_t len = build_frame(frame, "10.0.0.1", IPPROTO_UDP, 1, 0, udp, build_udp(udp, 1, 2, (const uint8_t *)"x", 1));
  struct ipv4_view ip;
  for (size_t cut = 0; cut < len; cut++) {
    uint8_t *copy = copy_exact(frame, cut);
    CHECK(packet_ipv4(copy, cut, &ip) == -1);
    free(copy);
  }
  frame[14] = 0x44; /* IHL 4 */
  CHECK(packet_ipv4(frame, len, &ip) == -1);
  frame[14] = 0x65; /* version 6 */
  CHECK(packet_ipv4(frame, len, &ip) == -1);
  frame[14] = 0x45;
  frame[12] = 0x86;
  frame[13] = 0xdd;
  CHECK(packet_ipv4(frame, len, &ip) == -1);
}

static void test_reads_fragment_fields(void) {
  uint8_t frame[256], data[64] = {0};
  size_t len = build_frame(frame, "10.0.0.1", IPPROTO_UDP, 9, 0x2000 | 185, data, 16);
  struct ipv4_view ip;
  struct l4_view u;
  CHECK(packet_ipv4(frame, len, &ip) == 0);
  CHECK(ip.fragment && !ip.has_header && ip.more && ip.offset == 1480);
  CHECK(packet_udp(&ip, &u) == -1 && packet_tcp(&ip, &u) == -1);
  len = build_frame(frame, "10.0.0.1", IPPROTO_UDP, 9, 0x2000, data, 16);
  CHECK(packet_ipv4(frame, len, &ip) == 0 && ip.fragment && ip.has_header && ip.more && ip.offset == 0);
  len = build_frame(frame, "10.0.0.1", IPPROTO_UDP, 9, 0x4000, data, 16); /* DF alone */
  CHECK(packet_ipv4(frame, len, &ip) == 0 && !ip.fragment);
}

struct collected {
  uint8_t frames[64][PACKET_ETH_HLEN + PACKET_MTU];
  size_t lens[64];
  size_t n;
  size_t largest;
};

static void collect(void *ctx, const uint8_t *frame, size_t len) {
  struct collected *c = ctx;
  CHECK(c->n < 64 && len <= PACKET_ETH_HLEN + PACKET_MTU);
  if (c->n >= 64 || len > sizeof c->frames[0]) return;
  memcpy(c->frames[c->n], frame, len);
  c->lens[c->n++] = len;
  if (len > c->largest) c->largest = len;
}

/* Writes a datagram of `size` bytes, checks every frame, puts them back together in the given
 * order (reversed when asked) and checks the datagram and its UDP checksum. */
static void check_udp_frames(size_t size, bool reversed) {
  static uint8_t payload[65535];
  for (size_t i = 0; i < size; i++) payload[i] = (uint8_t)(i * 7 + size);
  struct udp_route r = {.src_mac = {0x52, 0x55, 0xc0, 0xa8, 0x7f, 0x01}, .dst_mac = {0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee},
                        .src = ip_of("192.168.127.1"), .dst = ip_of("192.168.127.2"), .sport = 53, .dport = 40000};
  struct collected *c = calloc(1, sizeof *c);
  CHECK(packet_udp_frames(&r, 99, payload, size, collect, c) == 0);
  CHECK(c->n == (size + 8 + 1479) / 1480);
  struct frags *f = frags_new();
  uint8_t *whole = NULL;
  size_t whole_len = 0;
  for (size_t k = 0; k < c->n; k++) {
    size_t i = reversed ? c->n - 1 - k : k;
    struct ipv4_view ip;
    CHECK(packet_ipv4(c->frames[i], c->lens[i], &ip) == 0);
    CHECK(ones_sum(0, c->frames[i] + 14, 20) == 0xffff);
    CHECK(memcmp(c->frames[i], r.dst_mac, 6) == 0 && memcmp(c->frames[i] + 6, r.src_mac, 6) == 0);
    if (c->n == 1) {
      CHECK(!ip.fragment);
      whole = c->frames[i];
      whole_len = c->lens[i];
      continue;
    }
    CHECK(ip.fragment && ip.more == (i + 1 < c->n));
    uint8_t *done = frags_add(f, c->frames[i], &ip, 0, &whole_len);
    CHECK((done != NULL) == (k + 1 == c->n));
    if (done) whole = done;
  }
  struct ipv4_view ip;
  struct l4_view u;
  CHECK(whole && packet_ipv4(whole, whole_len, &ip) == 0 && packet_udp(&ip, &u) == 0);
  if (whole && packet_ipv4(whole, whole_len, &ip) == 0 && packet_udp(&ip, &u) == 0) {
    CHECK(u.sport == 53 && u.dport == 40000 && u.data_len == size && memcmp(u.data, payload, size) == 0);
    uint8_t pseudo[12];
    memcpy(pseudo, &ip.src, 4);
    memcpy(pseudo + 4, &ip.dst, 4);
    pseudo[8] = 0;
    pseudo[9] = IPPROTO_UDP;
    put_be16(pseudo + 10, (uint16_t)ip.payload_len);
    uint32_t sum = ones_sum(0, pseudo, sizeof pseudo);
    CHECK(ones_sum(sum, ip.payload, ip.payload_len) == 0xffff);
  }
  frags_free(f);
  free(c);
}

static void test_writes_udp_in_frames_the_mtu_allows(void) {
  static const size_t sizes[] = {0, 1, 1471, 1472, 1473, 2952, 2953, 4000, 65507};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
    check_udp_frames(sizes[i], false);
    check_udp_frames(sizes[i], true);
  }
  struct udp_route r = {0};
  CHECK(packet_udp_frames(&r, 1, (const uint8_t *)"", 65508, collect, NULL) == -1);
}

static void test_clears_urgent_data_keeping_the_checksum_right(void) {
  uint8_t tcp[40] = {0}, frame[128];
  put_be16(tcp, 40000);
  put_be16(tcp + 2, 80);
  tcp[12] = 0x50;
  tcp[13] = TCP_FLAG_ACK | TCP_FLAG_URG | 0x08; /* PSH too */
  put_be16(tcp + 14, 65535);
  put_be16(tcp + 18, 0x7fff);
  memcpy(tcp + 20, "urgent!", 7);
  size_t len = build_frame(frame, "10.0.0.1", IPPROTO_TCP, 3, 0, tcp, 27);
  struct ipv4_view ip;
  CHECK(packet_ipv4(frame, len, &ip) == 0);
  uint8_t pseudo[12];
  memcpy(pseudo, &ip.src, 4);
  memcpy(pseudo + 4, &ip.dst, 4);
  pseudo[8] = 0;
  pseudo[9] = IPPROTO_TCP;
  put_be16(pseudo + 10, 27);
  uint8_t *seg = frame + 34;
  put_be16(seg + 16, (uint16_t)~ones_sum(ones_sum(0, pseudo, 12), seg, 27));
  CHECK(ones_sum(ones_sum(0, pseudo, 12), seg, 27) == 0xffff);
  packet_tcp_drop_urgent(frame, &ip);
  CHECK(seg[13] == (TCP_FLAG_ACK | 0x08) && get_be16(seg + 18) == 0 && seg[12] == 0x50);
  CHECK(ones_sum(ones_sum(0, pseudo, 12), seg, 27) == 0xffff);
  CHECK(memcmp(seg + 20, "urgent!", 7) == 0);
}

static void test_fuzzed_frames_are_read_within_their_bounds(void) {
  uint8_t base[256], udp[64], buf[512];
  size_t ulen = build_udp(udp, 1, 53, (const uint8_t *)"abcdefgh", 8);
  size_t base_len = build_frame(base, "192.168.127.1", IPPROTO_UDP, 1, 0, udp, ulen);
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    memcpy(buf, base, base_len);
    size_t len = mutate(buf, base_len, sizeof buf);
    uint8_t *copy = copy_exact(buf, len);
    struct ipv4_view ip;
    struct l4_view l4;
    if (packet_ipv4(copy, len, &ip) == 0) {
      CHECK(ip.payload >= copy && ip.payload + ip.payload_len <= copy + len);
      if (packet_udp(&ip, &l4) == 0) CHECK(l4.data + l4.data_len <= copy + len);
      if (packet_tcp(&ip, &l4) == 0 && (l4.tcp_flags & TCP_FLAG_URG)) packet_tcp_drop_urgent(copy, &ip);
    }
    free(copy);
  }
}

int main(void) {
  test_reads_an_ipv4_frame_and_its_udp();
  test_refuses_what_is_not_a_whole_ipv4_header();
  test_reads_fragment_fields();
  test_writes_udp_in_frames_the_mtu_allows();
  test_clears_urgent_data_keeping_the_checksum_right();
  test_fuzzed_frames_are_read_within_their_bounds();
  return test_finish("test_packet");
}
