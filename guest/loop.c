#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "boxns.h"
#include "channel.h"
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

enum { SLOT_SIGNAL, SLOT_MAIN, SLOT_EXEC, SLOT_STREAMS };
#define MAX_POLL (SLOT_STREAMS + 2 * MAX_STREAMS * 3)

struct watch {
  struct session *session;
  int stream; /* index in session->streams */
  uint32_t id;
  int which; /* 0 = stdin (POLLOUT), 1/2 = output (POLLIN) */
};

/* The exec port is served when the VM has one; its fd, a virtio port's, stays open for good. */
static bool has_exec(const struct agent *a) { return a->exec.channel >= 0; }

/* Serves the exec port from now on (its channel is open): 0, or -1 when its session cannot be made. */
static int open_exec_link(struct agent *a) {
  if (session_init(&a->exec.session, a->main.session.ops, a) < 0) return -1;
  a->exec.session.main = &a->main.session;
  /* SIGIO, while O_ASYNC is on, goes to the agent (its signalfd): a host connected or wrote. */
  if (fcntl(a->exec.channel, F_SETOWN, getpid()) < 0) log_errno("fcntl F_SETOWN", "the exec port");
  a->exec.connected = true; /* a virtio port is there: read it, as the main one at the start */
  return 0;
}

int loop_init(struct agent *a, const struct session_ops *ops) {
  if (session_init(&a->main.session, ops, a) < 0) return -1;
  a->exec.listener = -1;
  a->exec.wait_sigio = true;
  return has_exec(a) ? open_exec_link(a) : 0;
}

/* The exec port was there but not named yet at the start: looked for again when the agent is idle. */
static void find_exec_port(struct agent *a) {
  a->exec.channel = channel_open_exec();
  if (has_exec(a) && open_exec_link(a) < 0) {
    log_msg("cannot serve the exec port");
    close(a->exec.channel);
    a->exec.channel = CHANNEL_ABSENT;
  }
}

/* O_ASYNC on the link's port: on while nobody is there (SIGIO tells a host's arrival), off
 * while a host is (every frame it sends would raise one). */
static void set_async(struct link *l, bool on) {
  if (l->async == on) return;
  int flags = fcntl(l->channel, F_GETFL);
  if (flags < 0 || fcntl(l->channel, F_SETFL, on ? flags | O_ASYNC : flags & ~O_ASYNC) < 0) {
    log_errno("fcntl O_ASYNC", "the exec port");
    return;
  }
  l->async = on;
}

/* Reaps what ended, up to the first command of a stream: its EXIT goes out before the next
 * waitpid (which then finds the rest, or nothing: ~15 µs under TCG that no EXIT waits for).
 * Returns whether it stopped there, with more perhaps left to reap. */
static bool reap_children(struct agent *a) {
  int status;
  pid_t pid;
  while ((pid = reap_one(&status)) > 0) {
    /* Orphans re-parented to PID 1 are reaped too; they belong to no stream. */
    struct session *s = &a->main.session;
    struct stream *st = session_find_pid(s, pid);
    if (!st && has_exec(a)) st = session_find_pid(s = &a->exec.session, pid);
    if (!st) {
      boxns_reaped(pid);
      continue;
    }
    exec_finish(st, status, clock_now_ns());
    session_stream_exited(s, st);
    return true;
  }
  return false;
}

/* A port that is told of its host by SIGIO waits for it so, and otherwise looks again at
 * `until` (UINT64_MAX: never). The first time, O_ASYNC goes on and the port is looked at once
 * more at once: a host that came before it raised no SIGIO. */
static void await_sigio(struct link *l, uint64_t now, uint64_t until) {
  if (l->async) {
    l->retry_ns = until;
    return;
  }
  set_async(l, true);
  l->retry_ns = now;
}

/* Nobody is on the port: look again every RECONNECT_POLL_NS, or on SIGIO. */
static void await_host(struct link *l, uint64_t now) {
  l->connected = false;
  l->retry_ns = now + RECONNECT_POLL_NS;
  if (l->wait_sigio) await_sigio(l, now, UINT64_MAX);
}

/* The link's connection is over: its session ends. Said once per connection on the console, where a
 * host that reconnects at once can wait for it (a close and a connect in quick succession
 * may otherwise reach the agent as one connection, see HOST_GONE_GRACE_NS). */
static void host_gone(struct link *l) {
  log_msg(l->session.main ? "the exec port's host went away" : "the host went away");
  session_disconnected(&l->session);
  l->away_since_ns = 0;
  if (l->listener >= 0) {
    /* A connection that ended is over for good: the next host is a new connection. */
    if (l->channel >= 0) close(l->channel), l->channel = -1;
    l->connected = false;
    return;
  }
  await_host(l, clock_now_ns());
}

/* The channel read EOF. A listener's connection is over. A virtio port's may not be (see
 * HOST_GONE_GRACE_NS): it is read again every RECONNECT_POLL_NS (or on SIGIO), and over once
 * EOF has lasted the grace period with no host seen. A port that never had a host (before the
 * first connects, or after the last went) just waits (await_host). */
static void host_away(struct link *l) {
  if (l->listener >= 0) return host_gone(l);
  uint64_t now = clock_now_ns();
  bool no_session = l->session.state == SESSION_AWAIT_HELLO && l->session.in_len == 0 && !l->away_since_ns;
  if (no_session) return await_host(l, now);
  if (!l->away_since_ns) l->away_since_ns = now;
  if (now - l->away_since_ns >= HOST_GONE_GRACE_NS) return host_gone(l);
  l->connected = false;
  l->retry_ns = now + RECONNECT_POLL_NS;
  /* SIGIO tells of a host within the grace too; otherwise the grace's end is the next look. */
  if (l->wait_sigio) await_sigio(l, now, l->away_since_ns + HOST_GONE_GRACE_NS);
}

/* The listener is readable: a host connected, and its connection becomes the channel. */
static void accept_host(struct link *l) {
  int fd = accept4(l->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) log_errno("accept", "channel");
    return;
  }
  l->channel = fd;
  l->connected = true;
}

/* A host is there (it wrote, or has nothing to say yet): no SIGIO needed until it goes. */
static void host_seen(struct link *l) {
  l->connected = true;
  l->away_since_ns = 0;
  if (l->async) set_async(l, false);
}

/* Reads what the host sent, in blocks, up to one frame's worth. */
static void read_channel(struct link *l) {
  size_t total = 0, room;
  uint8_t *space = session_input_space(&l->session, &room);
  bool gone = false;
  while (total < room) {
    ssize_t n = read(l->channel, space + total, room - total);
    if (n > 0) {
      total += (size_t)n;
      host_seen(l);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      host_seen(l); /* a host is there, it just has nothing more to say */
    } else {
      if (n < 0) log_errno("read", "channel");
      gone = true; /* EOF: no host on the other end (any more) */
    }
    break;
  }
  if (total > 0) session_input(&l->session, total);
  if (gone) host_away(l);
}

static void write_channel(struct link *l) {
  struct outbuf *ob = &l->session.out;
  while (l->connected && ob->len > 0) {
    ssize_t n = write(l->channel, ob->data + ob->head, ob->len);
    if (n > 0) {
      outbuf_consume(ob, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    log_errno("write", "channel");
    host_gone(l);
  }
}

/* Per-iteration work that needs no event: stdin, post-reap drains, queued frames. */
static void service_streams(struct session *s, uint64_t now) {
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    stream_write_input(st);
    if (st->exited) stream_drain(&s->out, st, now);
  }
  session_process(s);
  session_pump(s);
}

static int add(struct pollfd *fds, struct watch *w, int n, int fd, short events, struct session *s, int stream,
               uint32_t id, int which) {
  fds[n] = (struct pollfd){.fd = fd, .events = events};
  w[n] = (struct watch){s, stream, id, which};
  return n + 1;
}

/* The link's slot: its channel, its listener, or nothing until retry_ns (pulled into *deadline). */
static int add_link(struct pollfd *fds, struct watch *w, int n, struct link *l, uint64_t *deadline) {
  struct session *s = &l->session;
  size_t room;
  session_input_space(s, &room);
  short chan_events = (room > 0 ? POLLIN : 0) | (s->out.len > 0 ? POLLOUT : 0);
  if (l->connected) return add(fds, w, n, l->channel, chan_events, NULL, -1, 0, 0);
  if (l->listener >= 0) return add(fds, w, n, l->listener, POLLIN, NULL, -1, 0, 0);
  if (l->retry_ns < *deadline) *deadline = l->retry_ns;
  return add(fds, w, n, -1, 0, NULL, -1, 0, 0);
}

/* The session's command fds; a reaped PTY command's drain deadline is pulled into *deadline. */
static int add_streams(struct pollfd *fds, struct watch *w, int n, struct session *s, uint64_t *deadline) {
  for (int i = 0; i < MAX_STREAMS; i++) {
    struct stream *st = &s->streams[i];
    if (!st->id) continue;
    if (st->fds[0] >= 0 && (st->in_len > 0 || (st->stdin_eof && st->stdin_open)))
      n = add(fds, w, n, st->fds[0], POLLOUT, s, i, st->id, 0);
    for (int which = 1; which <= 2; which++)
      if (stream_can_read(&s->out, st, which)) n = add(fds, w, n, st->fds[which], POLLIN, s, i, st->id, which);
    /* A reaped PTY command's output ends at EIO, or at EAGAIN past the drain deadline; with
     * no window left, nothing is read and the deadline waits for the host's WINDOW. */
    if (st->exited && st->pty && stream_can_read(&s->out, st, 1) && st->drain_deadline_ns < *deadline)
      *deadline = st->drain_deadline_ns;
  }
  return n;
}

/* Builds the poll set; returns its size and sets the timeout (ms, -1 = none). */
static int build_poll(struct agent *a, struct pollfd *fds, struct watch *w, uint64_t now, int *timeout) {
  uint64_t deadline = UINT64_MAX;
  int n = add(fds, w, 0, a->sigfd, POLLIN, NULL, -1, 0, 0);
  n = add_link(fds, w, n, &a->main, &deadline);
  n = has_exec(a) ? add_link(fds, w, n, &a->exec, &deadline) : add(fds, w, n, -1, 0, NULL, -1, 0, 0);
  n = add_streams(fds, w, n, &a->main.session, &deadline);
  if (has_exec(a)) n = add_streams(fds, w, n, &a->exec.session, &deadline);
  *timeout = deadline == UINT64_MAX ? -1 : deadline <= now ? 0 : (int)((deadline - now + 999999) / 1000000);
  return n;
}

/* What waits for the agent to be idle: loopback (net.h) and its console lines. */
static void do_put_off(struct agent *a) {
  net_loopback_now();
  if (a->exec.channel == CHANNEL_UNNAMED) find_exec_port(a);
  if (a->ready_on[0]) {
    log_msg("agent %s ready on %s (started at %u.%03u s, ready at %u.%03u s after boot)", BOXLITE_GUEST_VERSION,
            a->ready_on, a->started_ms / 1000, a->started_ms % 1000, a->ready_ms / 1000, a->ready_ms % 1000);
    a->ready_on[0] = '\0';
  }
  if (a->main.session.configured && !a->config_told) {
    char what[320];
    message_describe_config(&a->main.session.config, what, sizeof what);
    log_msg("configured: %s", what);
    a->config_told = true;
  }
}

/* The link's events from poll: a host's connection accepted, frames read and written. */
static void serve_link(struct link *l, short chan) {
  if (!l->connected && l->listener >= 0) {
    if (chan) accept_host(l);
    chan = 0;
  }
  /* POLLHUP: the host may be gone (HOST_GONE_GRACE_NS). Its unread frames are still readable
   * (SHUTDOWN must not be lost): a full queue for it, which it may never read, is dropped so
   * that they can be handled. Anything less is kept for a host that is still there. */
  if ((chan & POLLHUP) && outbuf_free(&l->session.out) < SESSION_RESERVE) outbuf_clear(&l->session.out);
  if (chan & (POLLIN | POLLHUP | POLLERR)) read_channel(l);
  if (!l->connected && l->listener < 0 && clock_now_ns() >= l->retry_ns) read_channel(l);
  if (chan & POLLOUT) write_channel(l);
}

void loop_run(struct agent *a) {
  struct session *s = &a->main.session;
  struct pollfd fds[MAX_POLL];
  struct watch w[MAX_POLL];
  /* A virtio port is there from the start; a listener waits for the host to connect. */
  a->main.connected = a->main.listener < 0;
  for (;;) {
    uint64_t now = clock_now_ns();
    service_streams(s, now);
    if (has_exec(a)) service_streams(&a->exec.session, now);
    if (s->shutdown) return;
    write_channel(&a->main);
    if (has_exec(a)) write_channel(&a->exec);
    stream_close_done();
    /* A command was reaped and its EXIT is out: reap on (the next command's EXIT first, if any). */
    if (a->reap_more && (a->reap_more = reap_children(a))) continue;
    /* Once a command's EXIT went out, the next command's pipes are made while the host reads it. */
    if (s->out.len == 0 && a->exec.session.out.len == 0 && exec_stdio_wanted()) exec_prepare_stdio();
    int timeout;
    int n = build_poll(a, fds, w, now, &timeout);
    /* While something is put off, a first look does not wait: with nothing ready the agent
     * is idle, which is the time to do it. */
    bool putting_off = net_loopback_pending() || a->ready_on[0] || (s->configured && !a->config_told) ||
                       a->exec.channel == CHANNEL_UNNAMED;
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
      /* SIGIO: a host came to a port that waits for one (await_host): look at it now. */
      if (reap_ack(a->sigfd) && has_exec(a) && !a->exec.connected) a->exec.retry_ns = 0;
      a->reap_more = reap_children(a);
    }
    serve_link(&a->main, fds[SLOT_MAIN].revents);
    if (has_exec(a)) serve_link(&a->exec, fds[SLOT_EXEC].revents);
    for (int i = SLOT_STREAMS; i < n; i++) {
      struct session *ws = w[i].session;
      struct stream *st = &ws->streams[w[i].stream];
      /* A handler above may have closed or replaced this stream's fds. */
      if (!fds[i].revents || st->id != w[i].id || st->fds[w[i].which] != fds[i].fd) continue;
      if (w[i].which == 0) stream_write_input(st);
      else stream_read_output(&ws->out, st, w[i].which);
    }
  }
}
