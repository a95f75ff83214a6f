/*
 * The protocol's session state machine (docs/guest-protocol.md, "The session"): takes the
 * host's bytes, decodes frames, runs commands through session_ops, and queues the guest's
 * frames in an outbuf. It does no I/O of its own, so tests can drive it with any bytes.
 */
#ifndef BOXLITE_SESSION_H
#define BOXLITE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "agent.h"
#include "message.h"
#include "outbuf.h"
#include "protocol.h"

/* An orphan stream's id (SUSPEND): outside the ids a host opens (1..2^31-1), so a new EXEC never collides. */
#define ORPHAN_ID_BASE 0x80000000u

/* Room kept free in the outbuf for the control frames one incoming frame can cause. */
#define SESSION_RESERVE 4096u
#define INBUF_CAP (FRAME_HEADER + FRAME_MAX_PAYLOAD)

enum session_state { SESSION_AWAIT_HELLO, SESSION_READY, SESSION_BROKEN };

/* One command stream. A slot with id 0 is free. */
struct stream {
  uint32_t id;
  pid_t pid;   /* > 0 until the process is reaped */
  int fds[3];  /* the process's stdin (we write), stdout, stderr (we read); -1 when closed */
  int errpipe; /* setup errors from the child, read once it is reaped; -1 when closed */
  bool pty;    /* fds[0] and fds[1] are the same PTY master */
  bool stdin_open;   /* EXEC asked for stdin: STDIN bytes are delivered, not dropped */
  bool stdin_eof;    /* the host sent end-of-file: close once in_buf is written */
  uint8_t *in_buf;   /* STDIN bytes not yet written; never more than INITIAL_WINDOW */
  size_t in_len;
  uint32_t in_window; /* STDIN bytes the host may still send */
  uint32_t in_grant;  /* bytes written (or dropped) and not yet granted back with WINDOW */
  uint64_t out_window; /* STDOUT + STDERR bytes we may still send */
  bool orphan;         /* kept across a resume with nobody to hear it: output read and dropped, no frames */
  bool exited;         /* reaped, or never started: EXIT goes out once output is drained */
  uint64_t start_ns, exit_ns, drain_deadline_ns;
  int code, signal;
  char error[EXIT_ERROR_MAX];
};

/* How the session acts on processes and the system; the agent's implementation is in exec.c. */
struct session_ops {
  /* Applies CONFIG (hostname, rootfs, network). Returns 0, or -1 with err set when it could
   * not: the session then answers ERROR config_failed and stays unconfigured, so a later
   * CONFIG is applied afresh (which must therefore be safe after a failure). */
  int (*configure)(void *ctx, const struct guest_config *cfg, char *err, size_t errlen);
  /* Starts req for st (sets pid, fds, pty, errpipe, start_ns). Returns 0, or -1 with err
   * set when no process could be created; the session then reports EXIT 126. */
  int (*spawn)(void *ctx, struct stream *st, const struct exec_request *req, char *err, size_t errlen);
  void (*signal)(void *ctx, struct stream *st, int sig);
  void (*resize)(void *ctx, struct stream *st, uint16_t rows, uint16_t cols);
  /* SIGKILLs the stream's process (and its process group): its connection is gone. */
  void (*terminate)(void *ctx, struct stream *st);
  /* Starts the copy of FILES_OUT (output on fds[1]) or FILES_IN (input on fds[0]), like spawn.
   * On -1 (with err set) the session reports EXIT 1. */
  int (*spawn_files)(void *ctx, struct stream *st, const struct files_request *req, char *err, size_t errlen);
  /* Freezes (FIFREEZE) or thaws (FITHAW) the rootfs, so that its disk is consistent while
   * the host copies it. Returns 0, or -1 with err set. */
  int (*freeze)(void *ctx, bool freeze, char *err, size_t errlen);
  /* Wakes a guest restored from saved memory (WAKE): sets the clock, reseeds the RNG and
   * adopts req->disks (wake.h). Returns 0, or -1 with err set. */
  int (*wake)(void *ctx, const struct wake_request *req, char *err, size_t errlen);
};

struct session {
  enum session_state state;
  /* The box's main session when this is the exec port's (loop.h): its commands run in the box
   * that main's CONFIG made, and the frames that act on the whole box (CONFIG, FREEZE, THAW,
   * WAKE, SUSPEND, SHUTDOWN) are main's alone. NULL: this is the main session. */
  const struct session *main;
  /* Per boot, not per connection: the box's configuration outlives the host's reconnects. */
  bool configured;
  struct guest_config config; /* what was applied, when configured */
  bool frozen;       /* the rootfs is frozen (FREEZE): thawed by THAW or when the host goes */
  bool shutdown;     /* SHUTDOWN received */
  bool framing_lost; /* a bad header: frame boundaries are unknown until the host disconnects */
  /* SUSPEND received: the connection's end (the resumed host's HELLO, or its EOF) keeps these streams. */
  bool resume_pending;
  struct suspend_request resume;
  struct stream streams[MAX_STREAMS];
  size_t open_streams;
  struct outbuf out;
  uint8_t *in; /* at most one frame: INBUF_CAP bytes */
  size_t in_len;
  const struct session_ops *ops;
  void *ctx;
};

int session_init(struct session *s, const struct session_ops *ops, void *ctx);
void session_destroy(struct session *s);

/* Where the next bytes from the host go, and how many fit; 0 when input must wait. */
uint8_t *session_input_space(struct session *s, size_t *room);
/* n bytes were read into the input space: decode and handle whole frames. */
void session_input(struct session *s, size_t n);
/* Handles frames that had to wait for room in the outbuf. */
void session_process(struct session *s);
/* The host disconnected: kill this connection's processes and await a new HELLO. */
void session_disconnected(struct session *s);

struct stream *session_find_pid(struct session *s, pid_t pid);
/* st's process was reaped (code, signal, error and exit_ns set): EXIT follows its output. */
void session_stream_exited(struct session *s, struct stream *st);
/* Queues due WINDOW grants and EXITs (freeing those streams). */
void session_pump(struct session *s);

#endif
