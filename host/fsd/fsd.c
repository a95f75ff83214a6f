/*
 * fsd: the box file server for QEMU (docs/volumes.md). One vhost-user-fs back-end on one unix
 * socket, serving every --share as a directory of its root (mux.h): QEMU's microvm has too few
 * device slots for one per volume. One thread around one poll loop.
 *
 * Exit codes: 0 when the front-end has gone, or on SIGTERM/SIGINT; 1 when a share cannot be
 * served (its root does not open) or the socket cannot be bound; 2 for a bad command line.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "mux.h"
#include "share.h"
#include "spin.h"

static const char USAGE[] =
    "usage: fsd [--verbose] --socket SOCKET [--socket-owner UID:GID] --share NAME:ROOT[:ro][:file=FILE] [--share ...]\n"
    "  Serves one virtio-fs device to the vhost-user front-end (QEMU) that connects to SOCKET;\n"
    "  its root holds each ROOT as the directory NAME. ro: read-only; file=FILE: that share\n"
    "  shows only its entry FILE.\n";

/*
 * A non-blocking listening socket only its owner may connect to, replacing a stale one. It
 * is bound and listening under PATH~ first, then renamed: whoever sees PATH (the runtime
 * waits for it) can connect at once, never between bind and listen.
 */
static int listen_at(const char *path, long uid, long gid, char *why, size_t whylen) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) + 1 >= sizeof addr.sun_path) {
    snprintf(why, whylen, "socket path too long");
    return -1;
  }
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s~", path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, whylen, "socket: %s", strerror(errno));
    return -1;
  }
  unlink(addr.sun_path);
  /* The mode comes from the umask at bind: 0600, and only for this call (files the guest
   * creates in a share keep the modes it asks for). */
  mode_t old = umask(0177);
  int rc = bind(fd, (struct sockaddr *)&addr, sizeof addr);
  umask(old);
  /* Given to the jailed VMM's uid before it appears under PATH (--socket-owner). */
  const char *step = rc < 0                                                     ? "bind"
                     : uid >= 0 && chown(addr.sun_path, (uid_t)uid, (gid_t)gid) < 0 ? "chown"
                     : listen(fd, 1) < 0                                        ? "listen"
                     : rename(addr.sun_path, path) < 0                          ? "rename"
                                                                                : NULL;
  if (step) {
    snprintf(why, whylen, "%s: %s", step, strerror(errno));
    if (rc == 0) unlink(addr.sun_path);
    close(fd);
    return -1;
  }
  return fd;
}

static void trace_line(void *ctx, const char *line) {
  (void)ctx;
  fprintf(stderr, "fsd: %s\n", line);
}

/* Opens every share's root, then the socket: the socket appearing means all are up. */
static struct share *open_device(const struct fsd_args *args) {
  struct mux_share shares[ARGS_MAX_SHARES];
  for (size_t i = 0; i < args->share_count; i++) {
    const struct share_spec *spec = &args->shares[i];
    shares[i] = (struct mux_share){.name = spec->name,
                                   .options = {.root = spec->root,
                                               .read_only = spec->read_only,
                                               .only_name = spec->only_name,
                                               .max_inode_fds = fs_inode_fds_budget(args->share_count)}};
  }
  char why[512];
  struct fs_mux *mux = fs_mux_new(shares, args->share_count, why, sizeof why);
  int fd = mux ? listen_at(args->socket_path, args->socket_uid, args->socket_gid, why, sizeof why) : -1;
  if (fd < 0) {
    fprintf(stderr, "fsd: %s%s\n", mux ? "--socket: " : "", why);
    fs_mux_free(mux);
    return NULL;
  }
  struct share *device = share_new(args->socket_path, mux, fd);
  if (args->verbose) device->dev.trace = trace_line;
  return device;
}

static int signal_fd(void) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_IGN);
  return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Looks at the rings for window_ns (spin.h); yields between looks, so that a thread waiting
 * for this CPU (the VM's own) gets it. Whether a request came. */
static bool look_for_more(struct share *device, uint32_t window_ns) {
  if (window_ns == 0) return false;
  uint64_t until = now_ns() + window_ns;
  do {
    if (share_pending(device)) return true;
    sched_yield();
  } while (now_ns() < until);
  return false;
}

/* Polls until the front-end has gone or a signal ends fsd. */
static void run(struct share *device, int sigfd) {
  struct pollfd fds[1 + SHARE_MAX_FDS];
  struct share_slot slots[1 + SHARE_MAX_FDS];
  struct spin spin = {0};
  uint64_t served = 0, served_at = 0;
  bool slept = true;
  bool TMP_nospin = access("/tmp/fsd-nospin", F_OK) == 0;
  while (!device->done) {
    int timeout = -1;
    fds[0] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    size_t n = 1 + share_poll_fds(device, fds + 1, slots + 1, &timeout);
    if (poll(fds, n, timeout) < 0 && errno != EINTR) {
      fprintf(stderr, "fsd: poll: %s\n", strerror(errno));
      return;
    }
    if (fds[0].revents) return;
    for (size_t i = 1; i < n; i++) share_event(&slots[i], fds[i].revents);
    share_tick(device);
    if (device->dev.served == served) continue;
    uint64_t now = now_ns();
    if (slept) spin_slept(&spin, now - served_at);
    served = device->dev.served;
    served_at = now;
    slept = !look_for_more(device, TMP_nospin ? 0 : spin.window_ns);
  }
}

int main(int argc, char **argv) {
  if (argc == 1) {
    fputs(USAGE, stderr);
    return 2;
  }
  static struct fsd_args args;
  char err[600];
  if (args_parse(argc, argv, &args, err, sizeof err) < 0) {
    fprintf(stderr, "fsd: %s\n%s", err, USAGE);
    return 2;
  }
  /* The guest's kernel has applied the box's umask to every mode it sends (fs_server.h). */
  umask(0);
  fs_raise_nofile();
  int sigfd = signal_fd();
  if (sigfd < 0) {
    fprintf(stderr, "fsd: signalfd: %s\n", strerror(errno));
    return 1;
  }
  struct share *device = open_device(&args);
  if (!device) return 1;
  run(device, sigfd);
  /* Only the socket this process bound is removed. */
  unlink(args.socket_path);
  share_free(device);
  return 0;
}
