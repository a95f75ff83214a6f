/* One round of the event loop: the fds every part wants polled and whom to call, and the
 * earliest deadline any part has. Rebuilt before each poll, so a part's interest is always
 * its current state and nothing has to be unregistered. */
#ifndef BOXLITE_NETD_POLLSET_H
#define BOXLITE_NETD_POLLSET_H

#include <poll.h>
#include <signal.h>
#include <stdint.h>

typedef void (*poll_fn)(void *ctx, int fd, short revents);

struct poll_slot {
  poll_fn fn; /* NULL: libslirp's fd, whose events it reads back with pollset_revents */
  void *ctx;
};

struct pollset {
  struct pollfd *fds;
  struct poll_slot *slots;
  size_t len, cap;
  int64_t deadline_ms; /* monotonic; INT64_MAX: none */
};

/* Monotonic milliseconds. */
int64_t clock_ms(void);

void pollset_init(struct pollset *ps);
void pollset_free(struct pollset *ps);
void pollset_reset(struct pollset *ps);
/* Watches fd for events; returns its index. Aborts when out of memory (netd cannot run then). */
int pollset_add(struct pollset *ps, int fd, short events, poll_fn fn, void *ctx);
/* Wakes the next wait by this deadline at the latest. */
void pollset_until(struct pollset *ps, int64_t deadline_ms);
/* ppoll() with `mask` while waiting (the signals that end netd are blocked otherwise). */
int pollset_wait(struct pollset *ps, const sigset_t *mask);
short pollset_revents(const struct pollset *ps, int idx);
/* Calls each watcher whose fd has events. A watcher may end objects other slots still name:
 * their owners mark them dead and free them only in their next fill. */
void pollset_dispatch(struct pollset *ps);

#endif
