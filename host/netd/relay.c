#include "relay.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* How many buffers one side may move per wakeup before others get their turn. */
#define ROUNDS 8

/* Bytes read from one side, not yet written to the other. */
struct half {
  uint8_t buf[RELAY_BUF];
  size_t off, len; /* pending bytes are buf[off .. off + len) */
  bool eof;        /* the source ended: shut the destination's writing once drained */
  bool shut;
};

struct relay {
  int fd[2];
  struct half dir[2]; /* dir[i] carries fd[i]'s bytes to fd[1 - i] */
  bool dead;
  struct relay *next;
};

struct relays {
  struct relay *head;
};

struct relays *relays_new(void) {
  return calloc(1, sizeof(struct relays));
}

void close_with_reset(int fd) {
  struct linger lg = {.l_onoff = 1, .l_linger = 0};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close(fd);
}

static void end(struct relay *r, bool reset) {
  if (r->dead) return;
  for (int i = 0; i < 2; i++) {
    if (reset) {
      close_with_reset(r->fd[i]);
    } else {
      close(r->fd[i]);
    }
  }
  r->dead = true;
}

void relays_free(struct relays *rs) {
  while (rs->head) {
    struct relay *r = rs->head;
    rs->head = r->next;
    end(r, false);
    free(r);
  }
  free(rs);
}

void relay_start(struct relays *rs, int a, int b, const uint8_t *first, size_t n) {
  struct relay *r = n <= RELAY_BUF ? malloc(sizeof *r) : NULL;
  if (!r) {
    close_with_reset(a);
    close_with_reset(b);
    return;
  }
  *r = (struct relay){.fd = {a, b}, .next = rs->head};
  if (n) memcpy(r->dir[0].buf, first, n);
  r->dir[0].len = n;
  rs->head = r;
}

/* Writes dir[i] to fd[1 - i]. false when the relay ended. */
static bool drain(struct relay *r, int i) {
  struct half *h = &r->dir[i];
  while (h->len) {
    ssize_t n = write(r->fd[1 - i], h->buf + h->off, h->len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) return true;
      end(r, true);
      return false;
    }
    h->off += (size_t)n;
    h->len -= (size_t)n;
  }
  h->off = 0;
  if (h->eof && !h->shut) {
    shutdown(r->fd[1 - i], SHUT_WR);
    h->shut = true;
    if (r->dir[1 - i].shut) end(r, false);
  }
  return !r->dead;
}

/* Reads fd[i] into dir[i] and passes it on, for a few rounds. */
static void pump(struct relay *r, int i) {
  struct half *h = &r->dir[i];
  for (int round = 0; round < ROUNDS && !h->eof && h->len == 0; round++) {
    ssize_t n = read(r->fd[i], h->buf, RELAY_BUF);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) end(r, true);
      return;
    }
    if (n == 0) h->eof = true;
    h->len = (size_t)n;
    if (!drain(r, i)) return;
  }
}

static void on_fd(void *ctx, int fd, short revents) {
  struct relay *r = ctx;
  if (r->dead) return;
  int i = fd == r->fd[0] ? 0 : 1;
  if ((revents & POLLOUT) && !drain(r, 1 - i)) return;
  if (revents & (POLLIN | POLLHUP | POLLERR)) pump(r, i);
}

void relays_fill(struct relays *rs, struct pollset *ps) {
  for (struct relay **link = &rs->head; *link;) {
    struct relay *r = *link;
    if (r->dead) {
      *link = r->next;
      free(r);
      continue;
    }
    for (int i = 0; i < 2; i++) {
      short events = (short)((!r->dir[i].eof && r->dir[i].len == 0 ? POLLIN : 0) | (r->dir[1 - i].len ? POLLOUT : 0));
      if (events) pollset_add(ps, r->fd[i], events, on_fd, r);
    }
    link = &r->next;
  }
}
