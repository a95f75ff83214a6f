#include "proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "hooks.h"
#include "peek.h"
#include "relay.h"

/* The most of a connection's first bytes read for its name: a whole TLS record's worth. */
#define PEEK_MAX RELAY_BUF
#define PEEK_MS 5000
/* As long as a box's own connect() would wait for most servers' answer. */
#define CONNECT_MS 30000
/* Diverted sockets not yet accepted: libslirp connects them just before the proxy accepts. */
#define EXPECT_MAX 256
/* Connections still being read or dialled; more are refused at once. */
#define PENDING_MAX 64

struct expect {
  uint16_t port; /* libslirp's socket's port, host order; 0: free */
  struct sockaddr_in dst;
};

enum pending_state { PEEKING, DIALLING };

struct pending {
  enum pending_state state;
  int client, upstream;
  struct sockaddr_in dst;
  uint8_t *buf;
  size_t len;
  int64_t deadline;
  bool dead;
  struct proxy *proxy;
  struct pending *next;
};

struct proxy {
  struct netd *netd;
  int listener;
  struct sockaddr_in addr;
  struct expect expect[EXPECT_MAX];
  size_t expect_next; /* the slot the next diversion takes, overwriting the oldest */
  struct pending *head;
  size_t pending_count;
};

struct proxy *proxy_new(struct netd *n, char *err, size_t errlen) {
  struct proxy *p = calloc(1, sizeof *p);
  if (!p) {
    snprintf(err, errlen, "proxy: out of memory");
    return NULL;
  }
  p->netd = n;
  p->addr = (struct sockaddr_in){.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof p->addr;
  p->listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (p->listener < 0 || bind(p->listener, (struct sockaddr *)&p->addr, sizeof p->addr) < 0 ||
      listen(p->listener, 128) < 0 || getsockname(p->listener, (struct sockaddr *)&p->addr, &len) < 0) {
    snprintf(err, errlen, "proxy: %s", strerror(errno));
    if (p->listener >= 0) close(p->listener);
    free(p);
    return NULL;
  }
  return p;
}

static void finish(struct pending *c) {
  free(c->buf);
  c->buf = NULL;
  c->dead = true;
}

/* Refused by the allow-list, or the destination failed: the box sees a reset. */
static void refuse(struct pending *c) {
  close_with_reset(c->client);
  if (c->upstream >= 0) close(c->upstream);
  c->proxy->netd->stats.tcp_errors++;
  finish(c);
}

void proxy_free(struct proxy *p) {
  while (p->head) {
    struct pending *c = p->head;
    p->head = c->next;
    if (!c->dead) {
      close(c->client);
      if (c->upstream >= 0) close(c->upstream);
    }
    free(c->buf);
    free(c);
  }
  close(p->listener);
  free(p);
}

int proxy_divert(struct proxy *p, int fd, const struct sockaddr_in *dst) {
  int r = real_connect(fd, (const struct sockaddr *)&p->addr, sizeof p->addr);
  if (r < 0 && errno != EINPROGRESS) return r;
  int saved = errno;
  struct sockaddr_in local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) == 0) {
    p->expect[p->expect_next] = (struct expect){.port = ntohs(local.sin_port), .dst = *dst};
    p->expect_next = (p->expect_next + 1) % EXPECT_MAX;
  }
  errno = saved;
  return r;
}

static void start_relay(struct pending *c) {
  relay_start(c->proxy->netd->relays, c->client, c->upstream, c->buf, c->len);
  finish(c);
}

static void dial(struct pending *c, int64_t now) {
  c->upstream = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->upstream < 0) {
    refuse(c);
    return;
  }
  if (real_connect(c->upstream, (struct sockaddr *)&c->dst, sizeof c->dst) == 0) {
    start_relay(c);
    return;
  }
  if (errno != EINPROGRESS) {
    refuse(c);
    return;
  }
  c->state = DIALLING;
  c->deadline = now + CONNECT_MS;
}

/* Decides once the first bytes name the server, or cannot. */
static void judge(struct pending *c) {
  char name[DNS_NAME_MAX];
  enum peek_result tls = peek_tls_sni(c->buf, c->len, name, sizeof name);
  enum peek_result http = tls == PEEK_FOUND ? PEEK_NONE : peek_http_host(c->buf, c->len, name, sizeof name);
  if (tls != PEEK_FOUND && http != PEEK_FOUND) {
    if ((tls == PEEK_NEED_MORE || http == PEEK_NEED_MORE) && c->len < PEEK_MAX) return;
    refuse(c);
    return;
  }
  const struct net_policy *policy = c->proxy->netd->policy;
  if (!policy_name_allowed(policy, name) || !policy_ip_learned_for(policy, name, c->dst.sin_addr)) {
    refuse(c);
    return;
  }
  dial(c, clock_ms());
}

static void on_client(void *ctx, int fd, short revents) {
  (void)revents;
  struct pending *c = ctx;
  if (c->dead) return;
  ssize_t n = read(fd, c->buf + c->len, PEEK_MAX - c->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    /* The box gave up before it said whom it wants. */
    close(c->client);
    finish(c);
    return;
  }
  c->len += (size_t)n;
  judge(c);
}

static void on_upstream(void *ctx, int fd, short revents) {
  (void)revents;
  struct pending *c = ctx;
  if (c->dead) return;
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
    refuse(c);
    return;
  }
  start_relay(c);
}

/* The destination libslirp's socket was diverted from, found by its port. */
static bool take_expect(struct proxy *p, const struct sockaddr_in *peer, struct sockaddr_in *dst) {
  if (peer->sin_addr.s_addr != htonl(INADDR_LOOPBACK)) return false;
  uint16_t port = ntohs(peer->sin_port);
  for (size_t i = 0; i < EXPECT_MAX; i++) {
    if (p->expect[i].port != port) continue;
    *dst = p->expect[i].dst;
    p->expect[i].port = 0;
    return true;
  }
  return false;
}

static void on_listener(void *ctx, int fd, short revents) {
  (void)revents;
  struct proxy *p = ctx;
  for (;;) {
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    int s = accept4(fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0) return;
    struct sockaddr_in dst;
    /* Anyone else on the host that finds the port is no box. */
    if (!take_expect(p, &peer, &dst)) {
      close_with_reset(s);
      continue;
    }
    struct pending *c = p->pending_count < PENDING_MAX ? malloc(sizeof *c) : NULL;
    uint8_t *buf = c ? malloc(PEEK_MAX) : NULL;
    if (!buf) {
      free(c);
      close_with_reset(s);
      p->netd->stats.tcp_errors++;
      continue;
    }
    *c = (struct pending){.state = PEEKING, .client = s, .upstream = -1, .dst = dst, .buf = buf,
                          .deadline = clock_ms() + PEEK_MS, .proxy = p, .next = p->head};
    p->head = c;
    p->pending_count++;
  }
}

void proxy_fill(struct proxy *p, struct pollset *ps, int64_t now) {
  pollset_add(ps, p->listener, POLLIN, on_listener, p);
  for (struct pending **link = &p->head; *link;) {
    struct pending *c = *link;
    if (!c->dead && now >= c->deadline) refuse(c);
    if (c->dead) {
      *link = c->next;
      p->pending_count--;
      free(c);
      continue;
    }
    if (c->state == PEEKING) {
      pollset_add(ps, c->client, POLLIN, on_client, c);
    } else {
      pollset_add(ps, c->upstream, POLLOUT, on_upstream, c);
    }
    pollset_until(ps, c->deadline);
    link = &c->next;
  }
}
