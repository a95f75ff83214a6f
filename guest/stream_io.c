#include "stream_io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "pty.h"

/* How much of an orphan's output one read takes (and drops). */
#define ORPHAN_READ 16384u

static size_t read_budget(const struct outbuf *ob, const struct stream *st) {
  if (st->orphan) return ORPHAN_READ; /* read and dropped: neither the outbuf nor a window holds it back */
  size_t room = outbuf_free(ob);
  if (room <= FRAME_HEADER + SESSION_RESERVE) return 0;
  size_t n = room - FRAME_HEADER - SESSION_RESERVE;
  if (n > MAX_DATA_CHUNK) n = MAX_DATA_CHUNK;
  if (n > st->out_window) n = (size_t)st->out_window;
  return n;
}

bool stream_can_read(const struct outbuf *ob, const struct stream *st, int which) {
  return st->fds[which] >= 0 && read_budget(ob, st) > 0;
}

enum read_result { READ_DATA, READ_AGAIN, READ_EOF };

/* An orphan's output (SUSPEND): read so that its writer never blocks or gets SIGPIPE, then dropped. */
static enum read_result read_orphan(struct stream *st, int which) {
  uint8_t sink[ORPHAN_READ];
  ssize_t got;
  do got = read(st->fds[which], sink, sizeof sink);
  while (got < 0 && errno == EINTR);
  if (got > 0) return READ_DATA;
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return READ_AGAIN;
  if (got < 0 && !(st->pty && errno == EIO)) log_errno("read", "orphan output");
  return READ_EOF;
}

static enum read_result read_block(struct outbuf *ob, struct stream *st, int which) {
  if (st->orphan) return read_orphan(st, which);
  size_t n = read_budget(ob, st);
  if (n == 0) return READ_AGAIN;
  uint8_t *dst = outbuf_reserve(ob, FRAME_HEADER + n);
  ssize_t got;
  do got = read(st->fds[which], dst + FRAME_HEADER, n);
  while (got < 0 && errno == EINTR);
  if (got > 0) {
    uint8_t type = which == 2 ? FRAME_STDERR : FRAME_STDOUT;
    frame_put_header(dst, type, st->id, (uint32_t)got);
    outbuf_commit(ob, FRAME_HEADER + (size_t)got);
    st->out_window -= (uint64_t)got;
    return READ_DATA;
  }
  if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return READ_AGAIN;
  /* EIO on a PTY master means every slave fd is closed: the terminal's end of file. */
  if (got < 0 && !(st->pty && errno == EIO)) log_errno("read", "command output");
  return READ_EOF;
}

/* Output fds that are done with, closed by stream_close_done once what the agent had to send
 * went out: closing a pipe costs ~10 µs under TCG, and the last ones close between a command's
 * reap and its EXIT. Two per stream at most. */
static int done_fds[2 * MAX_STREAMS];
static size_t done_count;

static void close_later(int fd) {
  if (done_count < sizeof done_fds / sizeof done_fds[0]) done_fds[done_count++] = fd;
  else close(fd);
}

void stream_close_done(void) {
  while (done_count > 0) close(done_fds[--done_count]);
}

/* Ends output fd `which`; a PTY master also carries stdin, which ends with it. */
static void close_output(struct stream *st, int which) {
  if (st->pty) {
    close_later(st->fds[1]);
    st->fds[0] = st->fds[1] = -1;
    return;
  }
  close_later(st->fds[which]);
  st->fds[which] = -1;
}

bool stream_read_output(struct outbuf *ob, struct stream *st, int which) {
  enum read_result r = read_block(ob, st, which);
  if (r == READ_EOF) close_output(st, which);
  return r == READ_DATA;
}

void stream_drain(struct outbuf *ob, struct stream *st, uint64_t now_ns) {
  for (int which = 1; which <= 2; which++) {
    while (st->fds[which] >= 0 && read_budget(ob, st) > 0) {
      enum read_result r = read_block(ob, st, which);
      if (r == READ_DATA) continue;
      /* A pipe is complete at EAGAIN once the writer is dead. A PTY moves written bytes to
       * the master asynchronously, so wait for its EIO, up to the drain deadline. */
      if (r == READ_EOF || !st->pty || now_ns >= st->drain_deadline_ns) close_output(st, which);
      break;
    }
  }
}

void stream_write_input(struct stream *st) {
  int fd = st->fds[0];
  if (fd < 0) return;
  while (st->in_len > 0) {
    ssize_t n = write(fd, st->in_buf, st->in_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n < 0) {
      /* EPIPE: the process closed its stdin. Drop the rest, as for stdin: false. */
      if (errno != EPIPE) log_errno("write", "command stdin");
      st->in_grant += (uint32_t)st->in_len;
      st->in_len = 0;
      st->stdin_open = false;
      if (!st->pty) {
        close(fd);
        st->fds[0] = -1;
      }
      return;
    }
    memmove(st->in_buf, st->in_buf + n, st->in_len - (size_t)n);
    st->in_len -= (size_t)n;
    st->in_grant += (uint32_t)n;
  }
  if (!st->stdin_eof || !st->stdin_open) return;
  if (st->pty) {
    if (pty_send_eof(fd) < 0 && errno == EAGAIN) return; /* retried on the next POLLOUT */
  } else {
    close(fd);
    st->fds[0] = -1;
  }
  st->stdin_open = false; /* end-of-file delivered; later STDIN bytes are dropped */
}
