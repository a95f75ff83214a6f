#include "loop.h"

#include <errno.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boxns.h"
#include "clock.h"
#include "exec.h"
#include "log.h"
#include "net.h"
#include "reap.h"
#include "stream_io.h"

/* After EOF a virtio port reads EOF (and polls POLLHUP) until the host reconnects: check
 * again this often instead of spinning. (A listener's next host is an accept instead.) */
#define RECONNECT_POLL_NS 10000000ull
/* How long a virtio port's EOF must last before the connection is over. virtio-serial tells a
 * host's connect and close on a control queue that the guest serves after its data: a new
 * host's first frames can be read before its connect is, and the port then still reads EOF for
 * the close of the host before. Ending the connection at once would drop the new host's
 * session and the answers queued for it (it would wait for them forever). A host that is
 * really gone only has its commands ended this much later. */
#define HOST_GONE_GRACE_NS 1000000000ull

enum { SLOT_SIGNAL, SLOT_CHANNEL, SLOT_STREAMS };
#define MAX_POLL (SLOT_STREAMS + MAX_STREAMS * 3)

struct watch {
  int stream; /* index in session.streams */
  uint32_t id;
  int which; /* 0 = stdin (POLLOUT), 1/2 = output (POLLIN) */
};

/* Reaps what ended, up to the first command of a stream: its EXIT goes out before the next
 * waitpid (which then finds the rest, or nothing: ~15 µs under TCG that no EXIT waits for).
 * Returns whether it stopped there, with more perhaps left to reap. */
static bool reap_children(struct agent *a) {
  int status;
  pid_t pid;
  while ((pid = reap_one(&status)) > 0) {
    /* Orphans re-parented to PID 1 are reaped too; they belong to no stream. */
    struct stream *st = session_find_pid(&a->session, pid);
    if (!st) {
      boxns_reaped(pid);
      continue;
    }
    exec_finish(st, status, clock_now_ns());
    session_stream_exited(&a->session, st);
    return true;
  }
  return false;
}

/* The connection is over: its session ends. Said once per connection on the console, where a
 * host that reconnects at once can wait for it (a close and a connect in quick succession
 * may otherwise reach the agent as one connection, see HOST_GONE_GRACE_NS). */
static void host_gone(struct agent *a) {
  log_msg("the host went away");
  session_disconnected(&a->session);
  a->connected = false;
  a->away_since_ns = 0;
  a->retry_ns = clock_now_ns() + RECONNECT_POLL_NS;
  /* A connection that ended is over for good: the next host is a new connection. */
  if (a->listener >= 0 && a->channel >= 0) close(a->channel), a->channel = -1;
}

/* The channel read EOF. A listener's connection is over. A virtio port's may not be (see
 * HOST_GONE_GRACE_NS): it is read again every RECONNECT_POLL_NS, and over once EOF has
 * lasted the grace period with no host seen. A port that never had a host (before the first
 * connects, or after the last went) just waits. */
static void host_away(struct agent *a) {
  if (a->listener >= 0) return host_gone(a);
  uint64_t now = clock_now_ns();
  bool no_session = a->session.state == SESSION_AWAIT_HELLO && a->session.in_len == 0 && !a->away_since_ns;
  if (!no_session) {
    if (!a->away_since_ns) a->away_since_ns = now;
    if (now - a->away_since_ns >= HOST_GONE_GRACE_NS) return host_gone(a);
  }
  a->connected = false;
  a->retry_ns = now + RECONNECT_POLL_NS;
}

/* The listener is readable: a host connected, and its connection becomes the channel. */
static void accept_host(struct agent *a) {
  int fd = accept4(a->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) log_errno("accept", "channel");
    return;
  }
  a->channel = fd;
  a->connected = true;
}

/* Reads what the host sent, in blocks, up to one frame's worth. */
static void read_channel(struct agent *a) {
  size_t total = 0, room;
  uint8_t *space = session_input_space(&a->session, &room);
  bool gone = false;
  while (total < room) {
    ssize_t n = read(a->channel, space + total, room - total);
    if (n > 0) {
      total += (size_t)n;
      a->connected = true;
      a->away_since_ns = 0;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      a->connected = true; /* a host is there, it just has nothing more to say */
      a->away_since_ns = 0;
    } else {
      if (n < 0) log_errno("read", "channel");
      gone = true; /* EOF: no host on the other end (any more) */
    }
    break;
  }
  if (total > 0) session_input(&a->session, total);
  if (gone) host_away(a);
}

static void write_channel(struct agent *a) {
  struct outbuf *ob = &a->session.out;
  while (a->connected && ob->len > 0) {
    ssize_t n = write(a->channel, ob->data + ob->head, ob->len);
    if (n > 0) {
      outbuf_consume(ob, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    log_errno("write", "channel");
    host_gone(a);
  }
}

/* Per-iteration work that needs no event: stdin, post-reap drains, queued frames. */
static void service_streams(struct agent *a, uint64_t now) {
  struct session *s = &a->session;
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    stream_write_input(st);
    if (st->exited) stream_drain(&s->out, st, now);
  }
  session_process(s);
  session_pump(s);
}

static int add(struct pollfd *fds, struct watch *w, int n, int fd, short events, int stream, uint32_t id,
               int which) {
  fds[n] = (struct pollfd){.fd = fd, .events = events};
  w[n] = (struct watch){stream, id, which};
  return n + 1;
}

/* Builds the poll set; returns its size and sets the timeout (ms, -1 = none). */
static int build_poll(struct agent *a, struct pollfd *fds, struct watch *w, uint64_t now, int *timeout) {
  struct session *s = &a->session;
  uint64_t deadline = UINT64_MAX;
  size_t room;
  session_input_space(s, &room);
  short chan_events = (room > 0 ? POLLIN : 0) | (s->out.len > 0 ? POLLOUT : 0);
  int n = add(fds, w, 0, a->sigfd, POLLIN, -1, 0, 0);
  if (a->connected) n = add(fds, w, n, a->channel, chan_events, -1, 0, 0);
  else if (a->listener >= 0) n = add(fds, w, n, a->listener, POLLIN, -1, 0, 0);
  else {
    n = add(fds, w, n, -1, 0, -1, 0, 0);
    deadline = a->retry_ns;
  }
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    if (st->fds[0] >= 0 && (st->in_len > 0 || (st->stdin_eof && st->stdin_open)))
      n = add(fds, w, n, st->fds[0], POLLOUT, i, st->id, 0);
    for (int which = 1; which <= 2; which++)
      if (stream_can_read(&s->out, st, which)) n = add(fds, w, n, st->fds[which], POLLIN, i, st->id, which);
    /* A reaped PTY command's output ends at EIO, or at EAGAIN past the drain deadline; with
     * no window left, nothing is read and the deadline waits for the host's WINDOW. */
    if (st->exited && st->pty && stream_can_read(&s->out, st, 1) && st->drain_deadline_ns < deadline)
      deadline = st->drain_deadline_ns;
  }
  *timeout = deadline == UINT64_MAX ? -1 : deadline <= now ? 0 : (int)((deadline - now + 999999) / 1000000);
  return n;
}

/* What waits for the agent to be idle: loopback (net.h) and its console lines. */
static void do_put_off(struct agent *a) {
  net_loopback_now();
  if (a->ready_on[0]) {
    log_msg("agent %s ready on %s (started at %u.%03u s, ready at %u.%03u s after boot)", BOXLITE_GUEST_VERSION,
            a->ready_on, a->started_ms / 1000, a->started_ms % 1000, a->ready_ms / 1000, a->ready_ms % 1000);
    a->ready_on[0] = '\0';
  }
  if (a->session.configured && !a->config_told) {
    char what[320];
    message_describe_config(&a->session.config, what, sizeof what);
    log_msg("configured: %s", what);
    a->config_told = true;
  }
}

void loop_run(struct agent *a) {
  struct session *s = &a->session;
  struct pollfd fds[MAX_POLL];
  struct watch w[MAX_POLL];
  /* A virtio port is there from the start; a listener waits for the host to connect. */
  a->connected = a->listener < 0;
  for (;;) {
    uint64_t now = clock_now_ns();
    service_streams(a, now);
    if (s->shutdown) return;
    write_channel(a);
    stream_close_done();
    /* A command was reaped and its EXIT is out: reap on (the next command's EXIT first, if any). */
    if (a->reap_more && (a->reap_more = reap_children(a))) continue;
    /* Once a command's EXIT went out, the next command's pipes are made while the host reads it. */
    if (s->out.len == 0 && exec_stdio_wanted()) exec_prepare_stdio();
    int timeout;
    int n = build_poll(a, fds, w, now, &timeout);
    /* While something is put off, a first look does not wait: with nothing ready the agent
     * is idle, which is the time to do it. */
    bool putting_off = net_loopback_pending() || a->ready_on[0] || (s->configured && !a->config_told);
    int ready = poll(fds, (nfds_t)n, putting_off ? 0 : timeout);
    if (ready < 0) {
      if (errno != EINTR) log_errno("poll", NULL);
      continue;
    }
    if (ready == 0 && putting_off) {
      do_put_off(a);
      continue;
    }
    if (fds[SLOT_SIGNAL].revents) {
      reap_ack(a->sigfd);
      a->reap_more = reap_children(a);
    }
    short chan = fds[SLOT_CHANNEL].revents;
    if (!a->connected && a->listener >= 0) {
      if (chan) accept_host(a);
      chan = 0;
    }
    /* POLLHUP: the host may be gone (HOST_GONE_GRACE_NS). Its unread frames are still readable
     * (SHUTDOWN must not be lost): a full queue for it, which it may never read, is dropped so
     * that they can be handled. Anything less is kept for a host that is still there. */
    if ((chan & POLLHUP) && outbuf_free(&s->out) < SESSION_RESERVE) outbuf_clear(&s->out);
    if (chan & (POLLIN | POLLHUP | POLLERR)) read_channel(a);
    if (!a->connected && a->listener < 0 && clock_now_ns() >= a->retry_ns) read_channel(a);
    if (chan & POLLOUT) write_channel(a);
    for (int i = SLOT_STREAMS; i < n; i++) {
      struct stream *st = &s->streams[w[i].stream];
      /* A handler above may have closed or replaced this stream's fds. */
      if (!fds[i].revents || st->id != w[i].id || st->fds[w[i].which] != fds[i].fd) continue;
      if (w[i].which == 0) stream_write_input(st);
      else stream_read_output(&s->out, st, w[i].which);
    }
  }
}
