#include "control.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tunnel.h"
#include "unixsock.h"

#define CONTROL_LINE_MAX 128
/* A client that has not sent its line by then is gone. */
#define LINE_MS 5000
/* Clients that have not sent their line yet; the listen backlog holds as many more. */
#define CLIENTS_MAX 64

struct client {
  int fd;
  char buf[CONTROL_LINE_MAX];
  size_t len;
  int64_t deadline;
  bool dead;
  struct control *control;
  struct client *next;
};

struct control {
  struct netd *netd;
  int listener;
  char *path;
  struct client *head;
  size_t count;
};

struct control *control_listen(const char *path, struct netd *n, char *err, size_t errlen) {
  struct control *c = calloc(1, sizeof *c);
  if (!c || !(c->path = strdup(path))) {
    free(c);
    snprintf(err, errlen, "--control: out of memory");
    return NULL;
  }
  c->netd = n;
  c->listener = unix_listen(path, CLIENTS_MAX, "--control", err, errlen);
  if (c->listener < 0) {
    free(c->path);
    free(c);
    return NULL;
  }
  return c;
}

void control_free(struct control *c) {
  while (c->head) {
    struct client *cl = c->head;
    c->head = cl->next;
    if (!cl->dead) close(cl->fd);
    free(cl);
  }
  close(c->listener);
  unlink(c->path);
  free(c->path);
  free(c);
}

/* Answers and hangs up; an answer is one short line, which an empty socket buffer takes whole. */
static void reply(struct client *cl, const char *line) {
  ssize_t n = write(cl->fd, line, strlen(line));
  (void)n; /* a client that left first has nobody to tell */
  close(cl->fd);
  cl->dead = true;
}

static void run(struct client *cl, char *line, const uint8_t *rest, size_t rest_len) {
  const struct netd_stats *s = &cl->control->netd->stats;
  if (strcmp(line, "stats") == 0) {
    char json[256];
    snprintf(json, sizeof json,
             "{\"bytes_sent\":%" PRIu64 ",\"bytes_received\":%" PRIu64 ",\"tcp_connections\":%" PRIu64 ",\"tcp_errors\":%" PRIu64 "}\n",
             s->bytes_sent, s->bytes_received, s->tcp_connections, s->tcp_errors);
    reply(cl, json);
    return;
  }
  unsigned port;
  char tail;
  if (sscanf(line, "tunnel %5u%c", &port, &tail) == 1 && port >= 1 && port <= 65535) {
    tunnels_open(cl->control->netd->tunnels, cl->fd, (uint16_t)port, rest, rest_len);
    cl->dead = true; /* the tunnel has the fd now */
    return;
  }
  reply(cl, strncmp(line, "tunnel", 6) == 0 ? "error bad port\n" : "error unknown command\n");
}

static void on_client(void *ctx, int fd, short revents) {
  (void)revents;
  struct client *cl = ctx;
  if (cl->dead) return;
  ssize_t n = read(fd, cl->buf + cl->len, sizeof cl->buf - cl->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
  if (n <= 0) {
    close(fd);
    cl->dead = true;
    return;
  }
  cl->len += (size_t)n;
  char *nl = memchr(cl->buf, '\n', cl->len);
  if (!nl) {
    if (cl->len == sizeof cl->buf) reply(cl, "error line too long\n");
    return;
  }
  *nl = 0;
  if (nl > cl->buf && nl[-1] == '\r') nl[-1] = 0;
  const uint8_t *rest = (const uint8_t *)nl + 1;
  run(cl, cl->buf, rest, cl->len - (size_t)(rest - (const uint8_t *)cl->buf));
}

static void on_listener(void *ctx, int fd, short revents) {
  (void)revents;
  struct control *c = ctx;
  for (;;) {
    int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s < 0) return;
    struct client *cl = c->count < CLIENTS_MAX ? malloc(sizeof *cl) : NULL;
    if (!cl) {
      close(s);
      continue;
    }
    *cl = (struct client){.fd = s, .deadline = clock_ms() + LINE_MS, .control = c, .next = c->head};
    c->head = cl;
    c->count++;
  }
}

void control_fill(struct control *c, struct pollset *ps, int64_t now) {
  pollset_add(ps, c->listener, POLLIN, on_listener, c);
  for (struct client **link = &c->head; *link;) {
    struct client *cl = *link;
    if (!cl->dead && now >= cl->deadline) reply(cl, "error timeout\n");
    if (cl->dead) {
      *link = cl->next;
      c->count--;
      free(cl);
      continue;
    }
    pollset_add(ps, cl->fd, POLLIN, on_client, cl);
    pollset_until(ps, cl->deadline);
    link = &cl->next;
  }
}
