/* What becomes of the box's frames (filter.c) and of its TCP connections (egress.c), with and
 * without an allow-list. */
#include "egress.h"
#include "filter.h"
#include "policy.h"
#include "test.h"
#include "test_frames.h"

static enum frame_verdict verdict(const struct net_policy *p, const char *dst, uint8_t proto, uint16_t dport) {
  uint8_t frame[256], l4[64] = {0};
  size_t l4_len = 20;
  if (proto == IPPROTO_UDP) l4_len = build_udp(l4, 40000, dport, (const uint8_t *)"\0\1\1\0\0\1\0\0\0\0\0\0\1a\0\0\1\0\1", 19);
  if (proto == IPPROTO_ICMP) l4[0] = 8;
  if (proto == IPPROTO_TCP) {
    put_be16(l4 + 2, dport);
    l4[12] = 0x50;
    l4[13] = 0x02;
  }
  return filter_frame(p, frame, build_frame(frame, dst, proto, 1, 0, l4, l4_len));
}

static enum egress_verdict decide(const struct net_policy *p, const char *dst, uint16_t port) {
  return egress_decide(p, ip_of(dst), port);
}

/* A name rule and a CIDR rule. */
static struct net_policy *allow_list(void) {
  struct net_policy *p = policy_new();
  char err[128];
  CHECK(policy_add_rule(p, "example.com", err, sizeof err) == 0);
  CHECK(policy_add_rule(p, "10.9.0.0/16", err, sizeof err) == 0);
  return p;
}

static void test_frames_without_an_allow_list(void) {
  struct net_policy *p = policy_new();
  uint8_t arp[42] = {0x52, 0x55, 0xc0, 0xa8, 0x7f, 0x01, 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee, 0x08, 0x06};
  uint8_t ipv6[80] = {0x52, 0x55, 0xc0, 0xa8, 0x7f, 0x01, 0x5a, 0x94, 0xef, 0xe4, 0x0c, 0xee, 0x86, 0xdd, 0x60};
  CHECK(filter_frame(p, arp, sizeof arp) == FRAME_SLIRP);
  CHECK(filter_frame(p, ipv6, sizeof ipv6) == FRAME_DROP);
  CHECK(filter_frame(p, arp, 10) == FRAME_DROP);
  CHECK(verdict(p, "192.168.127.1", IPPROTO_UDP, 53) == FRAME_DNS);
  CHECK(verdict(p, "192.168.127.1", IPPROTO_UDP, 5353) == FRAME_DROP);
  CHECK(verdict(p, "192.168.127.1", IPPROTO_ICMP, 0) == FRAME_SLIRP);
  CHECK(verdict(p, "192.168.127.1", IPPROTO_TCP, 53) == FRAME_SLIRP);
  CHECK(verdict(p, "192.168.127.254", IPPROTO_UDP, 9) == FRAME_SLIRP);
  CHECK(verdict(p, "192.168.127.254", IPPROTO_ICMP, 0) == FRAME_SLIRP);
  CHECK(verdict(p, "192.168.127.9", IPPROTO_UDP, 9) == FRAME_DROP);
  CHECK(verdict(p, "192.168.127.255", IPPROTO_ICMP, 0) == FRAME_DROP);
  CHECK(verdict(p, "10.1.2.3", IPPROTO_UDP, 9) == FRAME_SLIRP);
  CHECK(verdict(p, "10.1.2.3", IPPROTO_ICMP, 0) == FRAME_SLIRP);
  CHECK(verdict(p, "10.1.2.3", 47, 0) == FRAME_DROP);
  static const char *const nowhere[] = {"127.0.0.1", "127.0.0.53", "0.0.0.0", "224.0.0.251", "239.255.255.250", "255.255.255.255", "240.0.0.1"};
  for (size_t i = 0; i < sizeof nowhere / sizeof *nowhere; i++) {
    CHECK(verdict(p, nowhere[i], IPPROTO_UDP, 53) == FRAME_DROP);
    CHECK(verdict(p, nowhere[i], IPPROTO_TCP, 80) == FRAME_DROP);
  }
  policy_free(p);
}

static void test_frames_under_an_allow_list(void) {
  struct net_policy *p = allow_list();
  CHECK(verdict(p, "192.168.127.1", IPPROTO_UDP, 53) == FRAME_DNS);
  CHECK(verdict(p, "192.168.127.1", IPPROTO_ICMP, 0) == FRAME_DROP);
  CHECK(verdict(p, "192.168.127.254", IPPROTO_UDP, 9) == FRAME_SLIRP);
  CHECK(verdict(p, "10.9.1.1", IPPROTO_UDP, 9) == FRAME_SLIRP);
  CHECK(verdict(p, "10.9.1.1", IPPROTO_ICMP, 0) == FRAME_SLIRP);
  CHECK(verdict(p, "10.8.1.1", IPPROTO_UDP, 53) == FRAME_DROP);
  CHECK(verdict(p, "10.8.1.1", IPPROTO_ICMP, 0) == FRAME_DROP);
  /* TCP is decided at connect(). */
  CHECK(verdict(p, "10.8.1.1", IPPROTO_TCP, 22) == FRAME_SLIRP);
  /* Learned addresses do not open UDP: only IP rules do. */
  policy_learn(p, "example.com", ip_of("10.8.1.1"));
  CHECK(verdict(p, "10.8.1.1", IPPROTO_UDP, 53) == FRAME_DROP);
  policy_free(p);
}

static void test_connections_without_an_allow_list(void) {
  struct net_policy *p = policy_new();
  CHECK(decide(p, "127.0.0.1", 8080) == EGRESS_DIRECT);
  CHECK(decide(p, "10.1.2.3", 22) == EGRESS_DIRECT);
  CHECK(decide(p, "10.1.2.3", 443) == EGRESS_DIRECT);
  CHECK(decide(p, "192.168.127.1", 53) == EGRESS_DNS);
  CHECK(decide(p, "192.168.127.1", 80) == EGRESS_REFUSE);
  CHECK(decide(p, "192.168.127.9", 80) == EGRESS_REFUSE);
  static const char *const nowhere[] = {"127.0.0.2", "127.0.0.53", "0.0.0.0", "0.1.2.3", "224.0.0.1", "255.255.255.255"};
  for (size_t i = 0; i < sizeof nowhere / sizeof *nowhere; i++) CHECK(decide(p, nowhere[i], 80) == EGRESS_REFUSE);
  policy_free(p);
}

static void test_connections_under_an_allow_list(void) {
  struct net_policy *p = allow_list();
  CHECK(decide(p, "127.0.0.1", 8080) == EGRESS_DIRECT);
  CHECK(decide(p, "192.168.127.1", 53) == EGRESS_REFUSE);
  CHECK(decide(p, "10.9.1.1", 22) == EGRESS_DIRECT);
  CHECK(decide(p, "10.9.1.1", 443) == EGRESS_DIRECT);
  CHECK(decide(p, "10.8.1.1", 443) == EGRESS_PROXY);
  CHECK(decide(p, "10.8.1.1", 80) == EGRESS_PROXY);
  CHECK(decide(p, "10.8.1.1", 22) == EGRESS_REFUSE);
  policy_learn(p, "example.com", ip_of("10.8.1.1"));
  CHECK(decide(p, "10.8.1.1", 22) == EGRESS_DIRECT);
  /* The name still decides 80 and 443 of a learned address: another name may share it. */
  CHECK(decide(p, "10.8.1.1", 443) == EGRESS_PROXY);
  CHECK(decide(p, "127.0.0.2", 22) == EGRESS_REFUSE);
  policy_free(p);
}

int main(void) {
  test_frames_without_an_allow_list();
  test_frames_under_an_allow_list();
  test_connections_without_an_allow_list();
  test_connections_under_an_allow_list();
  return test_finish("test_rules");
}
