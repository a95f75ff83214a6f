/*
 * A session driven with bytes as the host would send them, with stub process operations
 * (no fork): shared by test_session.c and test_session_fuzz.c.
 */
#ifndef BOXLITE_SESSION_HARNESS_H
#define BOXLITE_SESSION_HARNESS_H

#include <stdlib.h>

#include "session.h"
#include "test.h"

struct harness {
  struct session s;
  pid_t next_pid;
  bool fail_spawn;
  bool fail_configure;
  int configures, failed_configures; /* configure calls, and those that failed */
  int signals, last_signal, resizes, terminated;
  int copies;                 /* spawn_files calls */
  int freezes, thaws;         /* freeze calls of each kind */
  bool fail_freeze;
  int wakes;                  /* wake calls */
  struct wake_request last_wake;
  uint8_t last_copy_type;     /* FRAME_FILES_OUT or FRAME_FILES_IN */
  struct files_spec last_copy; /* its path points into last_copy_path */
  char last_copy_path[64];
};

struct out_frame {
  uint8_t type;
  uint32_t stream;
  uint32_t length;
  char payload[600]; /* NUL-terminated copy of the start of the payload */
};

static inline int stub_configure(void *ctx, const struct guest_config *cfg, char *err, size_t errlen) {
  struct harness *h = ctx;
  CHECK(cfg->hostname[0] && cfg->rootfs_device[0] == '/');
  h->configures++;
  if (!h->fail_configure) return 0;
  h->failed_configures++;
  snprintf(err, errlen, "mount %s on /rootfs: No such device", cfg->rootfs_device);
  return -1;
}

static inline int stub_spawn(void *ctx, struct stream *st, const struct exec_request *req, char *err, size_t errlen) {
  struct harness *h = ctx;
  CHECK(req->argc >= 1 && req->argv[req->argc] == NULL && req->env[req->envc] == NULL);
  size_t touched = strlen(req->cwd) + strlen(req->user);
  for (size_t i = 0; i < req->argc; i++) touched += strlen(req->argv[i]);
  (void)touched;
  if (h->fail_spawn) {
    snprintf(err, errlen, "unable to find user bob: no matching entries in /etc/passwd");
    return -1;
  }
  st->pid = h->next_pid++;
  st->start_ns = 1000;
  st->pty = req->tty;
  return 0;
}

static inline void stub_signal(void *ctx, struct stream *st, int sig) {
  struct harness *h = ctx;
  CHECK(st->pid > 0);
  h->signals++;
  h->last_signal = sig;
}

static inline void stub_resize(void *ctx, struct stream *st, uint16_t rows, uint16_t cols) {
  (void)st, (void)rows, (void)cols;
  ((struct harness *)ctx)->resizes++;
}

static inline void stub_terminate(void *ctx, struct stream *st) {
  CHECK(st->pid > 0);
  ((struct harness *)ctx)->terminated++;
}

static inline int stub_spawn_files(void *ctx, struct stream *st, const struct files_request *req, char *err,
                                   size_t errlen) {
  struct harness *h = ctx;
  CHECK(req->spec.path && req->spec.path[0] == '/');
  h->copies++;
  h->last_copy_type = req->type;
  h->last_copy = req->spec;
  snprintf(h->last_copy_path, sizeof h->last_copy_path, "%s", req->spec.path);
  h->last_copy.path = h->last_copy_path;
  if (h->fail_spawn) {
    snprintf(err, errlen, "pipe: Too many open files");
    return -1;
  }
  st->pid = h->next_pid++;
  st->start_ns = 1000;
  return 0;
}

static inline int stub_freeze(void *ctx, bool freeze, char *err, size_t errlen) {
  struct harness *h = ctx;
  if (freeze) h->freezes++;
  else h->thaws++;
  if (!h->fail_freeze) return 0;
  snprintf(err, errlen, "ioctl(FIFREEZE) on /rootfs: Device or resource busy");
  return -1;
}

static inline int stub_wake(void *ctx, const struct wake_request *req, char *err, size_t errlen) {
  (void)err, (void)errlen;
  struct harness *h = ctx;
  h->wakes++;
  h->last_wake = *req;
  return 0;
}

static const struct session_ops stub_ops = {
    .configure = stub_configure,
    .spawn = stub_spawn,
    .signal = stub_signal,
    .resize = stub_resize,
    .terminate = stub_terminate,
    .spawn_files = stub_spawn_files,
    .freeze = stub_freeze,
    .wake = stub_wake,
};

static inline void setup(struct harness *h) {
  memset(h, 0, sizeof *h);
  h->next_pid = 100;
  CHECK(session_init(&h->s, &stub_ops, h) == 0);
}

/* Takes every whole frame the session queued, checking each is a well-formed guest frame. */
static inline size_t take(struct harness *h, struct out_frame *out, size_t max) {
  struct outbuf *ob = &h->s.out;
  size_t n = 0;
  struct frame f;
  while (frame_decode(ob->data + ob->head, ob->len, &f) == FRAME_OK) {
    CHECK(f.type != FRAME_EXEC && f.type != FRAME_STDIN && f.type != FRAME_SIGNAL && f.type != FRAME_RESIZE &&
          f.type != FRAME_SHUTDOWN && f.type != FRAME_FILES_OUT && f.type != FRAME_FILES_IN);
    if (f.type != FRAME_WINDOW && f.type != FRAME_STDOUT && f.type != FRAME_STDERR) {
      struct json_doc doc;
      const char *why;
      CHECK(json_parse(&doc, f.payload, f.length, &why) == 0 && json_root(&doc)->type == JSON_OBJECT);
      json_free(&doc);
    }
    if (n < max) {
      out[n] = (struct out_frame){.type = f.type, .stream = f.stream, .length = f.length};
      size_t copy = f.length < sizeof out[n].payload - 1 ? f.length : sizeof out[n].payload - 1;
      memcpy(out[n].payload, f.payload, copy);
      out[n].payload[copy] = '\0';
    }
    n++;
    outbuf_consume(ob, FRAME_HEADER + f.length);
  }
  CHECK(ob->len == 0); /* only whole frames are ever queued */
  return n;
}

static inline void feed(struct harness *h, const uint8_t *bytes, size_t len, size_t chunk) {
  while (len > 0) {
    size_t room;
    uint8_t *space = session_input_space(&h->s, &room);
    if (room == 0) { /* the host reads what we sent, then we go on */
      struct out_frame sink[1];
      take(h, sink, 0);
      session_process(&h->s);
      continue;
    }
    size_t n = len < chunk ? len : chunk;
    if (n > room) n = room;
    memcpy(space, bytes, n);
    session_input(&h->s, n);
    bytes += n;
    len -= n;
  }
}

static inline void send_frame(struct harness *h, uint8_t type, uint32_t stream, const void *payload, size_t len) {
  uint8_t *buf = malloc(FRAME_HEADER + len);
  frame_put_header(buf, type, stream, (uint32_t)len);
  if (len) memcpy(buf + FRAME_HEADER, payload, len);
  feed(h, buf, FRAME_HEADER + len, 1 << 20);
  free(buf);
}

static inline void send_json(struct harness *h, uint8_t type, uint32_t stream, const char *json) {
  send_frame(h, type, stream, json, strlen(json));
}

static inline void send_window(struct harness *h, uint32_t stream, uint32_t increment) {
  uint8_t p[4];
  put_be32(p, increment);
  send_frame(h, FRAME_WINDOW, stream, p, 4);
}

#define EXEC_JSON "{\"argv\":[\"true\"],\"env\":[],\"cwd\":\"/\",\"stdin\":true}"
#define HELLO_JSON "{\"version\":1}"
#define CONFIG_JSON "{\"hostname\":\"0123456789ab\",\"rootfs\":{\"device\":\"/dev/vdb\"}}"

/* A fresh session after a handshake, not configured yet. */
static inline void hello_session(struct harness *h) {
  struct out_frame out[4];
  setup(h);
  send_json(h, FRAME_HELLO, 0, HELLO_JSON);
  CHECK(take(h, out, 4) == 1 && out[0].type == FRAME_HELLO && out[0].stream == 0);
}

/* A fresh session after a handshake and a CONFIG: ready for commands. */
static inline void connect_session(struct harness *h) {
  struct out_frame out[4];
  hello_session(h);
  send_json(h, FRAME_CONFIG, 0, CONFIG_JSON);
  CHECK(take(h, out, 4) == 1 && out[0].type == FRAME_CONFIG && out[0].stream == 0 && h->s.configured);
}

static inline void exit_stream(struct harness *h, uint32_t id, int code, uint64_t exit_ns) {
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &h->s.streams[i];
    if (st->id != id) continue;
    st->code = code;
    st->exit_ns = exit_ns;
    session_stream_exited(&h->s, st);
  }
}

#endif
