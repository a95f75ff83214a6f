#include "share.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mux.h"

_Static_assert(offsetof(struct vhost_msg, payload) == VHOST_HEADER_SIZE, "a message is read as its wire bytes");

static size_t handle(void *mux, const struct iovec *in, size_t in_count, const struct iovec *out, size_t out_count) {
  return fs_mux_handle(mux, in, in_count, out, out_count);
}

struct share *share_new(const char *socket_path, struct fs_mux *mux, int listen_fd) {
  struct share *share = malloc(sizeof *share);
  if (!share) abort();
  memset(share, 0, sizeof *share);
  share->socket_path = socket_path;
  share->mux = mux;
  share->listen_fd = listen_fd;
  share->conn_fd = -1;
  vhost_init(&share->dev, handle, mux);
  return share;
}

static void drop_fds(struct share *share) {
  for (size_t i = 0; i < share->fd_count; i++) close(share->fds[i]);
  share->fd_count = 0;
}

/* The front-end has gone (or broke the protocol): the share is done. */
static void end_connection(struct share *share) {
  drop_fds(share);
  vhost_free(&share->dev);
  if (share->conn_fd >= 0) close(share->conn_fd);
  share->conn_fd = -1;
  share->done = true;
}

void share_free(struct share *share) {
  end_connection(share);
  if (share->listen_fd >= 0) close(share->listen_fd);
  fs_mux_free(share->mux);
  free(share);
}

size_t share_poll_fds(struct share *share, struct pollfd *fds, struct share_slot *slots, int *timeout_ms) {
  size_t n = 0;
  bool listening = share->conn_fd < 0;
  fds[n] = (struct pollfd){.fd = listening ? share->listen_fd : share->conn_fd, .events = POLLIN};
  slots[n++] = (struct share_slot){.share = share, .kind = listening ? SHARE_LISTEN : SHARE_CONN};
  for (size_t i = 0; i < VHOST_QUEUES; i++) {
    if (!vhost_ring_live(&share->dev, i)) continue;
    int wanted = share->more[i] ? 0 : share->dev.rings[i].kick < 0 ? SHARE_POLL_MS : -1;
    if (wanted >= 0 && (*timeout_ms < 0 || wanted < *timeout_ms)) *timeout_ms = wanted;
    if (share->dev.rings[i].kick < 0) continue;
    fds[n] = (struct pollfd){.fd = share->dev.rings[i].kick, .events = POLLIN};
    slots[n++] = (struct share_slot){.share = share, .kind = SHARE_KICK, .ring = i};
  }
  return n;
}

static void serve_all(struct share *share) {
  for (size_t i = 0; i < VHOST_QUEUES; i++) share->more[i] = vhost_serve(&share->dev, i);
}

/* One connection per socket: once QEMU is in, nobody else can connect. */
static void accept_frontend(struct share *share) {
  int fd = accept4(share->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  share->conn_fd = fd;
  close(share->listen_fd);
  share->listen_fd = -1;
}

/* Keeps the descriptors that came with the bytes just read; more than one message may carry is a protocol error. */
static int take_fds(struct share *share, struct msghdr *mh) {
  int rc = (mh->msg_flags & MSG_CTRUNC) ? -EPROTO : 0;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; i++) {
      int fd;
      memcpy(&fd, CMSG_DATA(c) + i * sizeof fd, sizeof fd);
      if (share->fd_count < VHOST_MAX_FDS) {
        share->fds[share->fd_count++] = fd;
      } else {
        close(fd);
        rc = -EPROTO;
      }
    }
  }
  return rc;
}

/* Handles the message read whole: its reply goes out at once (replies are a few bytes, and
 * a front-end that does not read them is not one to wait for). */
static int finish_message(struct share *share) {
  size_t reply_len;
  int rc = vhost_handle(&share->dev, &share->msg, share->fds, share->fd_count, &share->reply, &reply_len);
  share->fd_count = 0;
  share->have = 0;
  if (rc < 0) return rc;
  if (reply_len > 0 && send(share->conn_fd, &share->reply, reply_len, MSG_NOSIGNAL) != (ssize_t)reply_len) return -EIO;
  serve_all(share);
  return 0;
}

/*
 * Reads what has arrived, exactly one message at a time: the header, then the payload it
 * announces. Reading no further than the message keeps the descriptors of the next one
 * (which come with its first byte) out of this one.
 */
static void read_messages(struct share *share) {
  for (;;) {
    size_t want = share->have < VHOST_HEADER_SIZE ? VHOST_HEADER_SIZE - share->have
                                                  : VHOST_HEADER_SIZE + share->msg.size - share->have;
    struct iovec iov = {.iov_base = (uint8_t *)&share->msg + share->have, .iov_len = want};
    union {
      struct cmsghdr align;
      char bytes[CMSG_SPACE(sizeof(int) * VHOST_MAX_FDS)];
    } control;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.bytes, .msg_controllen = sizeof control.bytes};
    ssize_t n = recvmsg(share->conn_fd, &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0 || take_fds(share, &mh) < 0) {
      end_connection(share);
      return;
    }
    share->have += (size_t)n;
    if (share->have == VHOST_HEADER_SIZE && !vhost_header_ok(&share->msg)) {
      end_connection(share);
      return;
    }
    if (share->have == VHOST_HEADER_SIZE + share->msg.size && finish_message(share) < 0) {
      end_connection(share);
      return;
    }
  }
}

void share_event(const struct share_slot *slot, short revents) {
  struct share *share = slot->share;
  /* Nothing happened on it: a read would only find EAGAIN (a syscall per request, for nothing). */
  if (share->done || !revents) return;
  switch (slot->kind) {
  case SHARE_LISTEN:
    accept_frontend(share);
    return;
  case SHARE_CONN:
    read_messages(share);
    return;
  case SHARE_KICK: {
    /* The ring may have been stopped by a message handled earlier in this round. */
    int kick = share->dev.rings[slot->ring].kick;
    if (!vhost_ring_live(&share->dev, slot->ring) || kick < 0 || !(revents & POLLIN)) return;
    /* Its descriptor may even have been replaced in this round; fsd made it non-blocking (vhost.c). */
    uint64_t count;
    if (read(kick, &count, sizeof count) < 0 && errno != EAGAIN) return;
    share->more[slot->ring] = vhost_serve(&share->dev, slot->ring);
    return;
  }
  }
}

bool share_pending(struct share *share) {
  bool any = false;
  for (size_t i = 0; !share->done && i < VHOST_QUEUES; i++) {
    if (!vhost_pending(&share->dev, i)) continue;
    share->more[i] = true;
    any = true;
  }
  return any;
}

void share_tick(struct share *share) {
  if (share->done) return;
  for (size_t i = 0; i < VHOST_QUEUES; i++) {
    if (vhost_ring_live(&share->dev, i) && (share->more[i] || share->dev.rings[i].kick < 0))
      share->more[i] = vhost_serve(&share->dev, i);
  }
}
