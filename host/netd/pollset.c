#include "pollset.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

int64_t clock_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void pollset_init(struct pollset *ps) {
  *ps = (struct pollset){.deadline_ms = INT64_MAX};
}

void pollset_free(struct pollset *ps) {
  free(ps->fds);
  free(ps->slots);
  pollset_init(ps);
}

void pollset_reset(struct pollset *ps) {
  ps->len = 0;
  ps->deadline_ms = INT64_MAX;
}

int pollset_add(struct pollset *ps, int fd, short events, poll_fn fn, void *ctx) {
  if (ps->len == ps->cap) {
    size_t cap = ps->cap ? ps->cap * 2 : 64;
    struct pollfd *fds = realloc(ps->fds, cap * sizeof *fds);
    if (!fds) abort();
    ps->fds = fds;
    struct poll_slot *slots = realloc(ps->slots, cap * sizeof *slots);
    if (!slots) abort();
    ps->slots = slots;
    ps->cap = cap;
  }
  ps->fds[ps->len] = (struct pollfd){.fd = fd, .events = events};
  ps->slots[ps->len] = (struct poll_slot){.fn = fn, .ctx = ctx};
  return (int)ps->len++;
}

void pollset_until(struct pollset *ps, int64_t deadline_ms) {
  if (deadline_ms < ps->deadline_ms) ps->deadline_ms = deadline_ms;
}

int pollset_wait(struct pollset *ps, const sigset_t *mask) {
  struct timespec ts, *timeout = NULL;
  if (ps->deadline_ms != INT64_MAX) {
    int64_t left = ps->deadline_ms - clock_ms();
    if (left < 0) left = 0;
    ts = (struct timespec){.tv_sec = left / 1000, .tv_nsec = (left % 1000) * 1000000};
    timeout = &ts;
  }
  int n = ppoll(ps->fds, ps->len, timeout, mask);
  if (n < 0) {
    /* Nothing happened to any fd: dispatching must see no stale events. */
    for (size_t i = 0; i < ps->len; i++) ps->fds[i].revents = 0;
  }
  return n < 0 && errno == EINTR ? 0 : n;
}

short pollset_revents(const struct pollset *ps, int idx) {
  return idx >= 0 && (size_t)idx < ps->len ? ps->fds[idx].revents : 0;
}

void pollset_dispatch(struct pollset *ps) {
  for (size_t i = 0; i < ps->len; i++) {
    if (ps->fds[i].revents && ps->slots[i].fn) ps->slots[i].fn(ps->slots[i].ctx, ps->fds[i].fd, ps->fds[i].revents);
  }
}
