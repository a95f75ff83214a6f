#include "tunnel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "packet.h"
#include "relay.h"

/* The box answers a SYN within a round trip when it is up; this is within the 5 s the
 * runtime's control client waits for an answer line, so it reads why. */
#define OPEN_MS 4000
#define EARLY_MAX 256
/* Tunnels still opening at once (each holds a forward and two fds); more are refused. */
#define OPENING_MAX 32

enum tunnel_state {
  ACCEPTING, /* netd connected to the forward; libslirp has not accepted yet */
  SYN_SENT,  /* libslirp accepted and sent the box its SYN */
};

struct tunnel {
  enum tunnel_state state;
  int client;       /* the control client */
  int conn;         /* netd's connection to the forward */
  int listener;     /* the forward's listening socket, libslirp's */
  uint16_t fwd_port; /* the forward's port while it exists, 0 after */
  uint16_t local_port; /* conn's own port: the box sees it as 192.168.127.254's */
  uint16_t box_port;
  uint8_t early[EARLY_MAX];
  size_t early_len;
  int64_t deadline;
  bool dead;
  struct tunnels *owner;
  struct tunnel *next;
};

struct tunnels {
  struct netd *netd;
  struct tunnel *head;
  size_t count;
};

struct tunnels *tunnels_new(struct netd *n) {
  struct tunnels *t = calloc(1, sizeof *t);
  if (t) t->netd = n;
  return t;
}

static void remove_forward(struct tunnels *ts, struct tunnel *t) {
  if (!t->fwd_port) return;
  struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)};
  slirp_remove_hostfwd(ts->netd->slirp, 0, lo, t->fwd_port);
  t->fwd_port = 0;
}

void tunnels_free(struct tunnels *ts) {
  while (ts->head) {
    struct tunnel *t = ts->head;
    ts->head = t->next;
    if (!t->dead) {
      close(t->client);
      close(t->conn);
    }
    remove_forward(ts, t);
    free(t);
  }
  free(ts);
}

/* Answers the control client; a short line fits any socket buffer. */
static void answer(int fd, const char *line) {
  ssize_t n = write(fd, line, strlen(line));
  (void)n; /* a client that left first has nobody to tell */
}

static void fail(struct tunnels *ts, struct tunnel *t, const char *why) {
  char line[128];
  snprintf(line, sizeof line, "error %s\n", why);
  answer(t->client, line);
  close(t->client);
  if (t->conn >= 0) close(t->conn);
  t->dead = true;
  ts->netd->stats.tcp_errors++;
}

void tunnels_open(struct tunnels *ts, int fd, uint16_t port, const uint8_t *early, size_t n) {
  if (ts->count >= OPENING_MAX) {
    answer(fd, "error too many tunnels opening\n");
    close(fd);
    return;
  }
  struct tunnel *t = n <= EARLY_MAX ? calloc(1, sizeof *t) : NULL;
  if (!t) {
    answer(fd, "error out of memory\n");
    close(fd);
    return;
  }
  ts->count++;
  *t = (struct tunnel){.state = ACCEPTING, .client = fd, .conn = -1, .box_port = port, .early_len = n,
                       .deadline = clock_ms() + OPEN_MS, .owner = ts, .next = ts->head};
  memcpy(t->early, early, n);
  ts->head = t;
  struct in_addr lo = {.s_addr = htonl(INADDR_LOOPBACK)}, guest = {.s_addr = htonl(NET_GUEST)};
  hooks_listen_reset();
  if (slirp_add_hostfwd(ts->netd->slirp, 0, lo, 0, guest, port) < 0) {
    char why[96];
    snprintf(why, sizeof why, "forward: %s", strerror(errno));
    fail(ts, t, why);
    return;
  }
  struct hooks_listen l = hooks_last_listen();
  t->listener = l.fd;
  t->fwd_port = l.port;
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr = lo, .sin_port = htons(l.port)};
  struct sockaddr_in local;
  socklen_t len = sizeof local;
  t->conn = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (t->conn < 0 || (real_connect(t->conn, (struct sockaddr *)&addr, sizeof addr) < 0 && errno != EINPROGRESS) ||
      getsockname(t->conn, (struct sockaddr *)&local, &len) < 0) {
    char why[96];
    snprintf(why, sizeof why, "connect: %s", strerror(errno));
    fail(ts, t, why);
    return;
  }
  t->local_port = ntohs(local.sin_port);
}

bool tunnels_admit(struct tunnels *ts, int fd, const struct sockaddr_storage *peer) {
  for (struct tunnel *t = ts->head; t; t = t->next) {
    /* A forward not yet removed is still the tunnel's, even once the tunnel gave up. */
    if (!t->fwd_port || t->listener != fd) continue;
    const struct sockaddr_in *in = (const struct sockaddr_in *)peer;
    if (t->dead || t->state != ACCEPTING || in->sin_family != AF_INET || in->sin_addr.s_addr != htonl(INADDR_LOOPBACK) ||
        ntohs(in->sin_port) != t->local_port) {
      return false;
    }
    t->state = SYN_SENT;
    return true;
  }
  return true;
}

void tunnels_watch(struct tunnels *ts, const uint8_t *frame, size_t len) {
  bool waiting = false;
  for (struct tunnel *t = ts->head; t && !waiting; t = t->next) waiting = !t->dead && t->state == SYN_SENT;
  if (!waiting) return;
  struct ipv4_view ip;
  struct l4_view tcp;
  if (packet_ipv4(frame, len, &ip) < 0 || packet_tcp(&ip, &tcp) < 0 || ip.dst.s_addr != htonl(NET_HOST_ALIAS)) return;
  for (struct tunnel *t = ts->head; t; t = t->next) {
    if (t->dead || t->state != SYN_SENT || tcp.sport != t->box_port || tcp.dport != t->local_port) continue;
    if (tcp.tcp_flags & TCP_FLAG_RST) {
      fail(ts, t, "connection refused");
    } else if ((tcp.tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) == (TCP_FLAG_SYN | TCP_FLAG_ACK)) {
      answer(t->client, "ok\n");
      relay_start(ts->netd->relays, t->client, t->conn, t->early, t->early_len);
      t->dead = true;
    }
    return;
  }
}

static void on_hangup(void *ctx, int fd, short revents) {
  (void)revents;
  struct tunnel *t = ctx;
  if (t->dead) return;
  if (fd == t->conn) {
    /* libslirp gave the connection up: the box never answered its SYN. */
    fail(t->owner, t, "connection closed");
    return;
  }
  close(t->client);
  close(t->conn);
  t->dead = true;
}

void tunnels_fill(struct tunnels *ts, struct pollset *ps, int64_t now) {
  for (struct tunnel **link = &ts->head; *link;) {
    struct tunnel *t = *link;
    if (!t->dead && now >= t->deadline) fail(ts, t, "timeout");
    /* Taken (or given up): nobody else may use the forward. */
    if (t->dead || t->state == SYN_SENT) remove_forward(ts, t);
    if (t->dead) {
      *link = t->next;
      ts->count--;
      free(t);
      continue;
    }
    /* The client may half-close once it said all it has to send: only its hangup counts.
     * libslirp closing the connection (the box refused, or it gave up) ends it early. */
    pollset_add(ps, t->client, 0, on_hangup, t);
    pollset_add(ps, t->conn, POLLRDHUP, on_hangup, t);
    pollset_until(ps, t->deadline);
    link = &t->next;
  }
}
