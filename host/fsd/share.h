/* fsd's one vhost-user-fs device: its listening socket, its one front-end connection (QEMU),
 * and the device that connection drives, serving every share through the mux. fsd.c polls
 * what it asks for. */
#ifndef BOXLITE_FSD_SHARE_H
#define BOXLITE_FSD_SHARE_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>

#include "vhost.h"

/* What one share may have polled at once: its socket and each ring's kick. */
#define SHARE_MAX_FDS (1 + VHOST_QUEUES)
/* How often a ring the front-end asked to be polled (no kick descriptor) is looked at. */
#define SHARE_POLL_MS 10

enum share_slot_kind { SHARE_LISTEN, SHARE_CONN, SHARE_KICK };

/* Whom a polled fd belongs to. */
struct share_slot {
  struct share *share;
  enum share_slot_kind kind;
  size_t ring;
};

struct share {
  const char *socket_path;
  struct fs_mux *mux;
  int listen_fd, conn_fd; /* -1: none */
  bool done;              /* its front-end has gone */
  bool more[VHOST_QUEUES]; /* requests may still wait in the ring */
  struct vhost_dev dev;
  /* The message being read: `have` bytes so far, and the descriptors that came with them. */
  struct vhost_msg msg, reply;
  size_t have, fd_count;
  int fds[VHOST_MAX_FDS];
};

/* A device listening on listen_fd, serving with mux (both then its own). Aborts when out
 * of memory: fsd cannot run then. */
struct share *share_new(const char *socket_path, struct fs_mux *mux, int listen_fd);
void share_free(struct share *share);

/* Adds the fds the share waits on to fds/slots; lowers *timeout_ms (-1: none) to what it
 * needs. How many were added, at most SHARE_MAX_FDS. */
size_t share_poll_fds(struct share *share, struct pollfd *fds, struct share_slot *slots, int *timeout_ms);
/* Handles poll's events on one slot's fd. */
void share_event(const struct share_slot *slot, short revents);
/* Serves the rings that may still hold requests, or that are polled. */
void share_tick(struct share *share);
/* Whether a ring holds a request not served yet; such a ring is served at the next share_tick
 * (its kick may not have come yet). */
bool share_pending(struct share *share);

#endif
