#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

/* With a PTY, output is complete at EIO; a background process holding the terminal open
 * must not delay EXIT for longer than this after the reap. */
#define PTY_DRAIN_NS 100000000ull

int session_init(struct session *s, const struct session_ops *ops, void *ctx) {
  memset(s, 0, sizeof *s);
  s->ops = ops;
  s->ctx = ctx;
  s->in = malloc(INBUF_CAP);
  if (!s->in || outbuf_init(&s->out) < 0) {
    free(s->in);
    return -1;
  }
  return 0;
}

/* Closes fds[i]; the PTY master, shared by fds[0] and fds[1], is closed once both are done. */
static void close_fd(struct stream *st, int i) {
  int fd = st->fds[i];
  st->fds[i] = -1;
  if (fd < 0) return;
  for (int j = 0; j < 3; j++)
    if (st->fds[j] == fd) return;
  close(fd);
}

static void release_stream(struct session *s, struct stream *st) {
  for (int i = 0; i < 3; i++) close_fd(st, i);
  if (st->errpipe >= 0) close(st->errpipe);
  free(st->in_buf);
  memset(st, 0, sizeof *st);
  s->open_streams--;
}

/* Kills and forgets every stream: their connection is over. The reaper collects the pids. */
static void drop_streams(struct session *s) {
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    if (st->pid > 0) s->ops->terminate(s->ctx, st);
    release_stream(s, st);
  }
}

void session_destroy(struct session *s) {
  drop_streams(s);
  outbuf_destroy(&s->out);
  free(s->in);
  s->in = NULL;
}

static void queue_error(struct session *s, uint32_t stream, const char *code, const char *message) {
  char payload[512];
  size_t n = message_error(payload, sizeof payload, code, message);
  if (n == 0) n = message_error(payload, sizeof payload, code, "(message too long)");
  outbuf_frame(&s->out, FRAME_ERROR, stream, payload, n);
}

/* The channel is unusable: report why on stream 0 and ignore the host until it disconnects. */
static void break_channel(struct session *s, const char *code, const char *why) {
  log_msg("channel error (%s): %s", code ? code : "from the host", why);
  if (code) queue_error(s, 0, code, why);
  drop_streams(s);
  s->state = SESSION_BROKEN;
}

/* Thaws a frozen rootfs: a host that froze it and went must not leave the box's writers blocked. */
static void thaw_if_frozen(struct session *s) {
  char why[256];
  if (!s->frozen) return;
  if (s->ops->freeze(s->ctx, false, why, sizeof why) < 0) log_msg("thaw after the host left: %s", why);
  s->frozen = false;
}

static bool listed(const uint32_t *ids, size_t n, uint32_t id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id) return true;
  return false;
}

/* The connection ends because the box was suspended and is now restored (SUSPEND): the listed
 * streams and earlier orphans go on, every other stream's client is gone with the old host.
 * A kept stream starts the new connection afresh: a full window each way, and stdin the old
 * host sent but the command had not read yet is dropped (the new host never sent it). */
static void carry_streams(struct session *s) {
  const struct suspend_request *r = &s->resume;
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    bool keep = !st->orphan && listed(r->keep, r->nkeep, st->id);
    bool orphan = st->orphan || (!keep && listed(r->orphan, r->norphan, st->id));
    if (!keep && !orphan) {
      if (st->pid > 0) s->ops->terminate(s->ctx, st);
      release_stream(s, st);
      continue;
    }
    st->in_len = 0;
    st->in_grant = 0;
    st->in_window = INITIAL_WINDOW;
    st->out_window = INITIAL_WINDOW;
    if (orphan && !st->orphan) {
      st->orphan = true;
      st->id = ORPHAN_ID_BASE | (uint32_t)i;
    }
  }
  s->resume_pending = false;
}

/* Forgets the connection: its processes (but those a SUSPEND keeps), what was queued for it, its state. Not its input. */
static void end_connection(struct session *s) {
  thaw_if_frozen(s);
  if (s->resume_pending) carry_streams(s);
  else drop_streams(s);
  outbuf_clear(&s->out);
  s->state = SESSION_AWAIT_HELLO;
  s->framing_lost = false;
}

static struct stream *find_stream(struct session *s, uint32_t id) {
  for (int i = 0; i < MAX_STREAMS; i++)
    if (s->streams[i].id == id) return &s->streams[i];
  return NULL;
}

struct stream *session_find_pid(struct session *s, pid_t pid) {
  for (int i = 0; i < MAX_STREAMS; i++)
    if (s->streams[i].id && s->streams[i].pid == pid) return &s->streams[i];
  return NULL;
}

static void handle_hello(struct session *s, const struct frame *f) {
  char why[256];
  int64_t version;
  if (s->state != SESSION_AWAIT_HELLO) {
    /* A host only says HELLO first on a connection, so this is a new one whose predecessor's
     * EOF we never read: virtio-serial shows only whether a host is connected now, and a quick
     * close + connect leaves no trace. End the old connection as if we had seen it go. */
    log_msg("HELLO on a connection in use: treating it as a reconnect");
    end_connection(s);
  }
  if (message_parse_hello(f->payload, f->length, &version, why, sizeof why) < 0)
    return break_channel(s, "malformed", why);
  if (version != PROTOCOL_VERSION) {
    snprintf(why, sizeof why, "protocol version %lld is not supported; this agent speaks %d", (long long)version,
             PROTOCOL_VERSION);
    return break_channel(s, "version", why);
  }
  char payload[128];
  size_t n = message_hello(payload, sizeof payload);
  outbuf_frame(&s->out, FRAME_HELLO, 0, payload, n);
  s->state = SESSION_READY;
}

/* CONFIG: applied once per boot; again, it is acknowledged when it is the same and refused
 * when it differs, since the rootfs cannot be swapped under the commands that use it. */
static void handle_config(struct session *s, const struct frame *f) {
  char why[384];
  struct guest_config cfg;
  int rc = message_parse_config(f->payload, f->length, &cfg, why, sizeof why);
  if (rc < 0) return break_channel(s, rc == CONFIG_REFUSED ? "config_failed" : "malformed", why);
  if (s->configured && !message_same_config(&cfg, &s->config)) {
    char applied[320];
    message_describe_config(&s->config, applied, sizeof applied);
    snprintf(why, sizeof why, "the guest is already configured with %s", applied);
    return break_channel(s, "config_conflict", why);
  }
  if (!s->configured) {
    if (s->ops->configure(s->ctx, &cfg, why, sizeof why) < 0) return break_channel(s, "config_failed", why);
    s->config = cfg;
    s->configured = true;
  }
  outbuf_frame(&s->out, FRAME_CONFIG, 0, "{}", 2);
}

/* FREEZE and THAW: answered with the same type, `{}` when done (again: already so) or
 * `{"code":"freeze_failed","message":...}`; a failure leaves the channel usable. */
static void handle_freeze(struct session *s, const struct frame *f) {
  char why[256], payload[400];
  bool freeze = f->type == FRAME_FREEZE;
  if (f->length != 2 || memcmp(f->payload, "{}", 2) != 0)
    return break_channel(s, "malformed", freeze ? "FREEZE takes the payload {}" : "THAW takes the payload {}");
  int rc = 0;
  if (!s->configured) {
    snprintf(why, sizeof why, "the guest has no rootfs yet (no CONFIG)");
    rc = -1;
  } else if (s->frozen != freeze) {
    rc = s->ops->freeze(s->ctx, freeze, why, sizeof why);
    if (rc == 0) s->frozen = freeze;
  }
  if (rc == 0) {
    outbuf_frame(&s->out, f->type, 0, "{}", 2);
    return;
  }
  size_t n = message_error(payload, sizeof payload, "freeze_failed", why);
  outbuf_frame(&s->out, f->type, 0, payload, n);
}

/* WAKE: answered WAKE `{}` once the clock is set and the RNG reseeded (and the box's disks
 * adopted when named), or `{"code":"wake_failed","message":...}`; either way the channel goes
 * on. Disks can only be adopted before CONFIG: afterwards the rootfs is mounted from them. */
static void handle_wake(struct session *s, const struct frame *f) {
  char why[256], payload[400];
  struct wake_request req;
  if (message_parse_wake(f->payload, f->length, &req, why, sizeof why) < 0) return break_channel(s, "malformed", why);
  int rc = 0;
  if (req.ndisks > 0 && s->configured) {
    snprintf(why, sizeof why, "the box's disks are in use (CONFIG was applied): they can only be adopted before it");
    rc = -1;
  } else {
    rc = s->ops->wake(s->ctx, &req, why, sizeof why);
  }
  explicit_bzero(&req, sizeof req);
  if (rc == 0) {
    outbuf_frame(&s->out, FRAME_WAKE, 0, "{}", 2);
    return;
  }
  size_t n = message_error(payload, sizeof payload, "wake_failed", why);
  outbuf_frame(&s->out, FRAME_WAKE, 0, payload, n);
}

/* SUSPEND: the host is about to save the VM; the next connection's start is a resume, not a
 * reconnect (see end_connection). Answered SUSPEND `{}`; a later SUSPEND replaces it, and one
 * that keeps nothing makes the next connection a plain reconnect again (a suspend given up). */
static void handle_suspend(struct session *s, const struct frame *f) {
  char why[256];
  struct suspend_request req;
  if (message_parse_suspend(f->payload, f->length, &req, why, sizeof why) < 0) return break_channel(s, "malformed", why);
  s->resume = req;
  s->resume_pending = req.nkeep > 0 || req.norphan > 0;
  for (int i = 0; i < MAX_STREAMS; i++)
    if (s->streams[i].orphan) s->resume_pending = true;
  outbuf_frame(&s->out, FRAME_SUSPEND, 0, "{}", 2);
}

/* Commands and copies need the container's rootfs, which CONFIG brings: before it, the stream
 * is refused (it stays closed) but the channel lives on. */
static bool check_configured(struct session *s, const struct frame *f, const char *what) {
  if (s->main ? s->main->configured : s->configured) return true;
  char why[128];
  snprintf(why, sizeof why, "%s before CONFIG: the guest has no rootfs yet", what);
  queue_error(s, f->stream, "unconfigured", why);
  return false;
}

/* A command stream may only be opened on an id that is not open yet. */
static bool check_new_stream(struct session *s, const struct frame *f, const char *what) {
  if (!find_stream(s, f->stream)) return true;
  char why[128];
  snprintf(why, sizeof why, "%s on stream %u, which is already open", what, f->stream);
  break_channel(s, "malformed", why);
  return false;
}

/* Claims a slot for stream f->stream, or answers ERROR "limit" and returns NULL. */
static struct stream *open_stream(struct session *s, const struct frame *f, bool stdin_open) {
  if (s->open_streams >= MAX_STREAMS) {
    char why[64];
    snprintf(why, sizeof why, "%d streams are open already", MAX_STREAMS);
    queue_error(s, f->stream, "limit", why);
    return NULL;
  }
  struct stream *st = find_stream(s, 0);
  s->open_streams++;
  st->id = f->stream;
  st->fds[0] = st->fds[1] = st->fds[2] = st->errpipe = -1;
  st->stdin_open = stdin_open;
  st->in_window = INITIAL_WINDOW;
  st->out_window = INITIAL_WINDOW;
  return st;
}

/* After spawn: STARTED when a process exists, else EXIT with fail_code follows alone. */
static void report_spawn(struct session *s, struct stream *st, int rc, int fail_code) {
  if (rc == 0) {
    char payload[64];
    size_t n = message_started(payload, sizeof payload, (int)st->pid);
    outbuf_frame(&s->out, FRAME_STARTED, st->id, payload, n);
    return;
  }
  st->exited = true;
  st->code = fail_code;
}

static void handle_exec(struct session *s, const struct frame *f) {
  char why[256];
  if (!check_new_stream(s, f, "EXEC")) return;
  struct exec_request req;
  if (message_parse_exec(f->payload, f->length, &req, why, sizeof why) < 0) return break_channel(s, "malformed", why);
  struct stream *st = check_configured(s, f, "EXEC") ? open_stream(s, f, req.stdin_open) : NULL;
  /* No process, no STARTED: only EXIT 126 with the reason. */
  if (st) report_spawn(s, st, s->ops->spawn(s->ctx, st, &req, st->error, sizeof st->error), 126);
  message_free_exec(&req);
}

/* FILES_OUT and FILES_IN run like EXEC; a copy that cannot start fails with EXIT 1. */
static void handle_files(struct session *s, const struct frame *f) {
  char why[256];
  const char *what = f->type == FRAME_FILES_OUT ? "FILES_OUT" : "FILES_IN";
  if (!check_new_stream(s, f, what)) return;
  struct files_request req;
  if (message_parse_files(f->type, f->payload, f->length, &req, why, sizeof why) < 0)
    return break_channel(s, "malformed", why);
  struct stream *st = check_configured(s, f, what) ? open_stream(s, f, f->type == FRAME_FILES_IN) : NULL;
  if (st) report_spawn(s, st, s->ops->spawn_files(s->ctx, st, &req, st->error, sizeof st->error), 1);
  message_free_files(&req);
}

static void handle_stdin(struct session *s, struct stream *st, const struct frame *f) {
  if (f->length > st->in_window) {
    char why[128];
    snprintf(why, sizeof why, "STDIN of %u bytes on stream %u exceeds its window of %u", f->length, st->id,
             st->in_window);
    return break_channel(s, "malformed", why);
  }
  st->in_window -= f->length;
  if (!st->stdin_open || st->stdin_eof) {
    st->in_grant += f->length; /* dropped, as the spec says; the credit goes back */
    return;
  }
  if (f->length == 0) {
    st->stdin_eof = true;
    return;
  }
  if (!st->in_buf && !(st->in_buf = malloc(INITIAL_WINDOW))) {
    log_msg("out of memory for stdin of stream %u", st->id);
    st->in_grant += f->length;
    return;
  }
  /* in_len + in_window + in_grant never exceed INITIAL_WINDOW, so this fits. */
  memcpy(st->in_buf + st->in_len, f->payload, f->length);
  st->in_len += f->length;
}

/*
 * STDIN, WINDOW, SIGNAL, RESIZE. Payloads are checked before the stream is looked up, so a
 * malformed frame is malformed even for a closed stream; otherwise frames for closed
 * streams are ignored (they can cross an EXIT in flight).
 */
static void handle_command_frame(struct session *s, const struct frame *f) {
  char why[256];
  int sig = 0;
  uint16_t rows = 0, cols = 0;
  if (f->type == FRAME_SIGNAL && message_parse_signal(f->payload, f->length, &sig, why, sizeof why) < 0)
    return break_channel(s, "malformed", why);
  if (f->type == FRAME_RESIZE && message_parse_resize(f->payload, f->length, &rows, &cols, why, sizeof why) < 0)
    return break_channel(s, "malformed", why);
  struct stream *st = find_stream(s, f->stream);
  if (!st) return;
  if (f->type == FRAME_STDIN) return handle_stdin(s, st, f);
  if (f->type == FRAME_WINDOW) {
    uint64_t window = st->out_window + get_be32(f->payload);
    st->out_window = window > UINT32_MAX ? UINT32_MAX : window;
  }
  if (f->type == FRAME_SIGNAL && st->pid > 0) s->ops->signal(s->ctx, st, sig);
  if (f->type == FRAME_RESIZE && st->pty && st->fds[1] >= 0) s->ops->resize(s->ctx, st, rows, cols);
}

static void handle_frame(struct session *s, const struct frame *f) {
  char why[128];
  if (f->type == FRAME_HELLO) return handle_hello(s, f);
  if (s->state == SESSION_AWAIT_HELLO) {
    snprintf(why, sizeof why, "frame type 0x%02x before HELLO", f->type);
    return break_channel(s, "malformed", why);
  }
  if (s->main && (f->type == FRAME_CONFIG || f->type == FRAME_FREEZE || f->type == FRAME_THAW || f->type == FRAME_WAKE ||
                  f->type == FRAME_SUSPEND || f->type == FRAME_SHUTDOWN)) {
    snprintf(why, sizeof why, "frame type 0x%02x acts on the whole box: only its main channel takes it", f->type);
    return break_channel(s, "malformed", why);
  }
  switch (f->type) {
  case FRAME_CONFIG:
    return handle_config(s, f);
  case FRAME_FREEZE:
  case FRAME_THAW:
    return handle_freeze(s, f);
  case FRAME_WAKE:
    return handle_wake(s, f);
  case FRAME_SUSPEND:
    return handle_suspend(s, f);
  case FRAME_EXEC:
    return handle_exec(s, f);
  case FRAME_FILES_OUT:
  case FRAME_FILES_IN:
    return handle_files(s, f);
  case FRAME_SHUTDOWN:
    s->shutdown = true;
    return;
  case FRAME_ERROR:
    /* ERROR on stream 0 means the host is closing the channel; elsewhere it is advisory. */
    log_msg("host sent ERROR on stream %u: %.*s", f->stream, (int)(f->length > 200 ? 200 : f->length), f->payload);
    if (f->stream == 0) break_channel(s, NULL, "host reported an error");
    return;
  case FRAME_STDIN:
  case FRAME_WINDOW:
  case FRAME_SIGNAL:
  case FRAME_RESIZE:
    return handle_command_frame(s, f);
  default:
    snprintf(why, sizeof why, "frame type 0x%02x is not sent by the host", f->type);
    return break_channel(s, "malformed", why);
  }
}

uint8_t *session_input_space(struct session *s, size_t *room) {
  *room = INBUF_CAP - s->in_len;
  return s->in + s->in_len;
}

void session_process(struct session *s) {
  size_t off = 0;
  while (!s->framing_lost && !s->shutdown && outbuf_free(&s->out) >= SESSION_RESERVE) {
    struct frame f;
    enum frame_status rc = frame_decode(s->in + off, s->in_len - off, &f);
    if (rc == FRAME_INCOMPLETE) break;
    if (rc != FRAME_OK) {
      char why[64];
      snprintf(why, sizeof why, "bad frame header: %s", frame_status_name(rc));
      if (s->state != SESSION_BROKEN) break_channel(s, "malformed", why);
      s->framing_lost = true; /* no telling where the next frame starts: discard until EOF */
      break;
    }
    off += FRAME_HEADER + f.length;
    /* A broken channel's frames are dropped unread; only a HELLO (a reconnect, see
     * handle_hello) is looked at, in case the host's EOF went unseen. */
    if (s->state != SESSION_BROKEN || f.type == FRAME_HELLO) handle_frame(s, &f);
  }
  if (s->framing_lost) {
    s->in_len = 0;
    return;
  }
  if (off == 0) return; /* a partial frame stays put: no copying per arriving block */
  memmove(s->in, s->in + off, s->in_len - off);
  s->in_len -= off;
}

void session_input(struct session *s, size_t n) {
  s->in_len += n;
  session_process(s);
}

void session_disconnected(struct session *s) {
  end_connection(s);
  s->in_len = 0; /* a partial frame of the old connection */
}

void session_stream_exited(struct session *s, struct stream *st) {
  (void)s;
  st->exited = true;
  st->pid = 0;
  /* Nobody reads stdin any more: drop what is pending and give the credit back. */
  close_fd(st, 0);
  st->in_grant += (uint32_t)st->in_len;
  st->in_len = 0;
  st->stdin_open = false;
  st->drain_deadline_ns = st->exit_ns + PTY_DRAIN_NS;
}

void session_pump(struct session *s) {
  if (s->state == SESSION_BROKEN) return;
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    if (st->orphan) {
      /* Nobody hears an orphan: it ends without an EXIT once its output is read to the end. */
      if (st->exited && st->fds[1] < 0 && st->fds[2] < 0) release_stream(s, st);
      continue;
    }
    if (st->in_grant > 0) {
      uint8_t grant[4];
      put_be32(grant, st->in_grant);
      if (outbuf_frame(&s->out, FRAME_WINDOW, st->id, grant, 4) < 0) return;
      st->in_window += st->in_grant;
      st->in_grant = 0;
    }
    if (!st->exited || st->fds[1] >= 0 || st->fds[2] >= 0) continue;
    char payload[EXIT_PAYLOAD_MAX];
    struct exit_info info = {st->code, st->signal, (st->exit_ns - st->start_ns) / 1000, st->error};
    size_t n = message_exit(payload, sizeof payload, &info);
    if (outbuf_frame(&s->out, FRAME_EXIT, st->id, payload, n) < 0) return;
    release_stream(s, st);
  }
}
