#include "resolver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "packet.h"

#define DNS_PORT 53
#define HEADER_LEN 12
/* Unanswered by then: dropped (the box's resolver asks again by itself). */
#define QUERY_MS 5000
#define PENDING_MAX 128
/* A query larger than this is no stub resolver's. */
#define QUERY_MAX 4096
#define LOCAL_TTL 60
/* A wire name is at most 255 bytes; then type and class. */
#define QUESTION_MAX (255 + 4)

struct pending {
  bool used;
  uint16_t id;     /* the id the upstreams see */
  uint16_t box_id; /* the id the box chose */
  struct udp_route route; /* back to the box */
  char name[DNS_NAME_MAX];
  uint8_t question[QUESTION_MAX]; /* the question as sent: the answer must echo it */
  size_t question_len;
  int64_t deadline;
};

struct resolver {
  struct netd *netd;
  int sock;
  struct sockaddr_in upstreams[8];
  size_t upstream_count;
  uint16_t ip_id;
  struct pending pending[PENDING_MAX];
  uint8_t scratch[65536]; /* one datagram from an upstream */
};

struct resolver *resolver_new(struct netd *n, const struct sockaddr_in *upstreams, size_t count, char *err, size_t errlen) {
  if (count > sizeof ((struct resolver *)0)->upstreams / sizeof upstreams[0]) {
    snprintf(err, errlen, "dns: too many upstreams");
    return NULL;
  }
  struct resolver *r = calloc(1, sizeof *r);
  if (!r) {
    snprintf(err, errlen, "dns: out of memory");
    return NULL;
  }
  r->netd = n;
  memcpy(r->upstreams, upstreams, count * sizeof *upstreams);
  r->upstream_count = count;
  /* Bound to a port the OS picks at random, which with random ids is what keeps an off-path
   * host from forging answers. */
  r->sock = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (r->sock < 0) {
    snprintf(err, errlen, "dns: %s", strerror(errno));
    free(r);
    return NULL;
  }
  return r;
}

void resolver_free(struct resolver *r) {
  close(r->sock);
  free(r);
}

const struct sockaddr_in *resolver_tcp_upstream(const struct resolver *r) {
  return r->upstream_count ? &r->upstreams[0] : NULL;
}

static void to_box(void *ctx, const uint8_t *frame, size_t len) {
  netd_to_box(ctx, frame, len);
}

static void send_to_box(struct resolver *r, const struct udp_route *route, const uint8_t *msg, size_t len) {
  packet_udp_frames(route, r->ip_id++, msg, len, to_box, r->netd);
}

/* Answers a query here, with one A answer when addr is given. */
static void answer(struct resolver *r, const struct udp_route *route, const uint8_t *query, size_t qlen, uint8_t rcode,
                   const struct in_addr *addr) {
  uint8_t out[QUERY_MAX + 64];
  size_t n = dns_build_reply(query, qlen, rcode, addr, LOCAL_TTL, out, sizeof out);
  if (n) send_to_box(r, route, out, n);
}

/* The length of the question section (one question) of a well-formed message, or 0. */
static size_t question_len(const uint8_t *msg, size_t len) {
  size_t off = HEADER_LEN;
  while (off < len && msg[off] != 0) {
    if (msg[off] & 0xc0) return 0;
    off += 1u + msg[off];
  }
  off += 1 + 4;
  return off <= len && off - HEADER_LEN <= QUESTION_MAX ? off - HEADER_LEN : 0;
}

static struct pending *find(struct resolver *r, uint16_t id) {
  for (size_t i = 0; i < PENDING_MAX; i++) {
    if (r->pending[i].used && r->pending[i].id == id) return &r->pending[i];
  }
  return NULL;
}

static int new_id(struct resolver *r, uint16_t *id) {
  for (int tries = 0; tries < 16; tries++) {
    if (getrandom(id, sizeof *id, 0) != sizeof *id) return -1;
    if (!find(r, *id)) return 0;
  }
  return -1;
}

static void forward(struct resolver *r, const struct udp_route *route, const struct dns_question *q, const uint8_t *query,
                    size_t qlen) {
  struct pending *p = NULL;
  for (size_t i = 0; i < PENDING_MAX && !p; i++) {
    if (!r->pending[i].used) p = &r->pending[i];
  }
  uint8_t msg[QUERY_MAX];
  size_t question = question_len(query, qlen);
  if (!r->upstream_count || !p || qlen > sizeof msg || !question || new_id(r, &p->id) < 0) {
    answer(r, route, query, qlen, DNS_RCODE_SERVFAIL, NULL);
    return;
  }
  p->used = true;
  p->box_id = q->id;
  p->route = *route;
  memcpy(p->name, q->name, sizeof p->name);
  memcpy(p->question, query + HEADER_LEN, question);
  p->question_len = question;
  p->deadline = clock_ms() + QUERY_MS;
  memcpy(msg, query, qlen);
  msg[0] = (uint8_t)(p->id >> 8);
  msg[1] = (uint8_t)p->id;
  /* Every upstream at once: the first answer wins, so one that is down costs nothing. */
  for (size_t i = 0; i < r->upstream_count; i++) {
    sendto(r->sock, msg, qlen, 0, (const struct sockaddr *)&r->upstreams[i], sizeof r->upstreams[i]);
  }
}

void resolver_query(struct resolver *r, const uint8_t *frame, size_t len) {
  struct ipv4_view ip;
  struct l4_view udp;
  if (packet_ipv4(frame, len, &ip) < 0 || packet_udp(&ip, &udp) < 0) return;
  struct dns_question q;
  if (dns_parse_query(udp.data, udp.data_len, &q) < 0) return;
  struct udp_route route = {.src = ip.dst, .dst = ip.src, .sport = DNS_PORT, .dport = udp.sport};
  memcpy(route.dst_mac, frame + 6, 6);
  /* The MAC libslirp gives the gateway in its ARP answers: 52:55 then the address. */
  route.src_mac[0] = 0x52;
  route.src_mac[1] = 0x55;
  memcpy(route.src_mac + 2, &ip.dst, 4);
  const struct net_policy *policy = r->netd->policy;
  if (strcmp(q.name, NET_HOST_NAME) == 0) {
    struct in_addr alias = {.s_addr = htonl(NET_HOST_ALIAS)};
    answer(r, &route, udp.data, udp.data_len, DNS_RCODE_NOERROR, q.qtype == DNS_TYPE_A ? &alias : NULL);
  } else if (policy_restricted(policy) && !policy_name_allowed(policy, q.name)) {
    answer(r, &route, udp.data, udp.data_len, DNS_RCODE_NXDOMAIN, NULL);
  } else {
    forward(r, &route, &q, udp.data, udp.data_len);
  }
}

static bool from_upstream(const struct resolver *r, const struct sockaddr_in *from) {
  for (size_t i = 0; i < r->upstream_count; i++) {
    if (from->sin_addr.s_addr == r->upstreams[i].sin_addr.s_addr && from->sin_port == r->upstreams[i].sin_port) return true;
  }
  return false;
}

/* Whether two wire-format questions are the same but for the case of the name's letters. */
static bool same_question(const uint8_t *a, const uint8_t *b, size_t len) {
  size_t name_len = len - 4;
  for (size_t i = 0; i < name_len; i++) {
    uint8_t x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = (uint8_t)(x + 32);
    if (y >= 'A' && y <= 'Z') y = (uint8_t)(y + 32);
    if (x != y) return false;
  }
  return memcmp(a + name_len, b + name_len, 4) == 0;
}

/* One datagram from an upstream: the answer to a pending query, or ignored. */
static void take_answer(struct resolver *r, uint8_t *msg, size_t len) {
  if (len < HEADER_LEN || !(msg[2] & 0x80)) return;
  struct pending *p = find(r, (uint16_t)(msg[0] << 8 | msg[1]));
  /* Names compare without case: some resolvers randomise it and answer with their own. */
  if (!p || len < HEADER_LEN + p->question_len || msg[4] != 0 || msg[5] != 1 ||
      !same_question(msg + HEADER_LEN, p->question, p->question_len)) {
    return;
  }
  msg[0] = (uint8_t)(p->box_id >> 8);
  msg[1] = (uint8_t)p->box_id;
  if (policy_restricted(r->netd->policy) && (msg[3] & 0x0f) == DNS_RCODE_NOERROR) {
    struct in_addr addrs[32];
    int n = dns_answer_addrs(msg, len, addrs, 32);
    for (int i = 0; i < n; i++) policy_learn(r->netd->policy, p->name, addrs[i]);
  }
  send_to_box(r, &p->route, msg, len);
  p->used = false;
}

static void on_sock(void *ctx, int fd, short revents) {
  (void)revents;
  struct resolver *r = ctx;
  for (int i = 0; i < PENDING_MAX; i++) {
    struct sockaddr_in from;
    socklen_t fromlen = sizeof from;
    ssize_t n = recvfrom(fd, r->scratch, sizeof r->scratch, 0, (struct sockaddr *)&from, &fromlen);
    if (n < 0) return;
    if (from_upstream(r, &from)) take_answer(r, r->scratch, (size_t)n);
  }
}

void resolver_fill(struct resolver *r, struct pollset *ps, int64_t now) {
  for (size_t i = 0; i < PENDING_MAX; i++) {
    struct pending *p = &r->pending[i];
    if (p->used && now >= p->deadline) p->used = false;
    if (p->used) pollset_until(ps, p->deadline);
  }
  /* Read even with nothing pending: a late answer must not sit in the socket's buffer. */
  pollset_add(ps, r->sock, POLLIN, on_sock, r);
}
