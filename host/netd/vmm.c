#include "vmm.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "unixsock.h"

/* Room for several whole frames, so one read takes a burst of them. */
#define IN_CAP (256u * 1024u)
/* What libslirp may queue in one round: about one TCP window (64 KiB, unscaled) per busy
 * connection. Beyond it frames are dropped, as a full NIC would, and TCP resends them. */
#define OUT_CAP (512u * 1024u)
#define LEN_SIZE 4u

struct vmm {
  int listener, conn; /* conn -1: waiting for a VMM */
  char *path;
  frame_fn on_frame;
  void *ctx;
  uint8_t *in;
  size_t in_len;
  uint8_t *out;
  size_t out_head, out_len; /* queued bytes are out[out_head .. out_head + out_len) */
};

struct vmm *vmm_listen(const char *path, frame_fn on_frame, void *ctx, char *err, size_t errlen) {
  struct vmm *v = calloc(1, sizeof *v);
  if (!v || !(v->in = malloc(IN_CAP)) || !(v->out = malloc(OUT_CAP)) || !(v->path = strdup(path))) {
    snprintf(err, errlen, "--socket: out of memory");
    goto fail;
  }
  v->conn = -1;
  v->on_frame = on_frame;
  v->ctx = ctx;
  /* One VMM at a time: the next waits in the backlog. */
  v->listener = unix_listen(path, 1, "--socket", err, errlen);
  if (v->listener < 0) goto fail;
  return v;
fail:
  if (v) {
    free(v->in);
    free(v->out);
    free(v->path);
  }
  free(v);
  return NULL;
}

void vmm_free(struct vmm *v) {
  if (v->conn >= 0) close(v->conn);
  close(v->listener);
  unlink(v->path);
  free(v->in);
  free(v->out);
  free(v->path);
  free(v);
}

/* The VMM left (or broke the stream): forget its bytes and wait for the next one. */
static void drop_conn(struct vmm *v) {
  close(v->conn);
  v->conn = -1;
  v->in_len = 0;
  v->out_head = v->out_len = 0;
}

static uint32_t read_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void on_readable(struct vmm *v) {
  ssize_t n = read(v->conn, v->in + v->in_len, IN_CAP - v->in_len);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
    drop_conn(v);
    return;
  }
  if (n < 0) return;
  v->in_len += (size_t)n;
  size_t off = 0;
  while (v->in_len - off >= LEN_SIZE) {
    uint32_t len = read_be32(v->in + off);
    if (len > VMM_FRAME_MAX) {
      drop_conn(v);
      return;
    }
    if (v->in_len - off - LEN_SIZE < len) break;
    v->on_frame(v->ctx, v->in + off + LEN_SIZE, len);
    if (v->conn < 0) return; /* answering the frame found the VMM gone */
    off += LEN_SIZE + len;
  }
  memmove(v->in, v->in + off, v->in_len - off);
  v->in_len -= off;
}

static void on_conn(void *ctx, int fd, short revents) {
  (void)fd;
  struct vmm *v = ctx;
  if (revents & (POLLIN | POLLHUP | POLLERR)) on_readable(v);
  if (v->conn >= 0 && (revents & POLLOUT)) vmm_flush(v);
}

static void on_listener(void *ctx, int fd, short revents) {
  (void)revents;
  struct vmm *v = ctx;
  int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (c >= 0) v->conn = c;
}

void vmm_fill(struct vmm *v, struct pollset *ps) {
  if (v->conn < 0) {
    pollset_add(ps, v->listener, POLLIN, on_listener, v);
    return;
  }
  pollset_add(ps, v->conn, POLLIN | (v->out_len ? POLLOUT : 0), on_conn, v);
}

void vmm_flush(struct vmm *v) {
  while (v->conn >= 0 && v->out_len) {
    ssize_t n = write(v->conn, v->out + v->out_head, v->out_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) drop_conn(v);
      return;
    }
    v->out_head += (size_t)n;
    v->out_len -= (size_t)n;
  }
  if (!v->out_len) v->out_head = 0;
}

bool vmm_send(struct vmm *v, const uint8_t *frame, size_t len) {
  size_t need = LEN_SIZE + len;
  if (v->conn < 0 || len > VMM_FRAME_MAX) return false;
  if (OUT_CAP - v->out_len < need) vmm_flush(v);
  if (v->conn < 0 || OUT_CAP - v->out_len < need) return false;
  if (OUT_CAP - v->out_head - v->out_len < need) {
    memmove(v->out, v->out + v->out_head, v->out_len);
    v->out_head = 0;
  }
  uint8_t *p = v->out + v->out_head + v->out_len;
  p[0] = (uint8_t)(len >> 24);
  p[1] = (uint8_t)(len >> 16);
  p[2] = (uint8_t)(len >> 8);
  p[3] = (uint8_t)len;
  memcpy(p + LEN_SIZE, frame, len);
  v->out_len += need;
  return true;
}
