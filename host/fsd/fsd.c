/*
 * fsd: the box file server for QEMU (docs/volumes.md). One vhost-user-fs back-end per
 * --share, each on its own unix socket, all in one thread around one poll loop.
 *
 * Exit codes: 0 when every share's front-end has gone, or on SIGTERM/SIGINT; 1 when a
 * share cannot be served (its root does not open, its socket cannot be bound); 2 for a bad
 * command line.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "args.h"
#include "fs_server.h"
#include "share.h"

static const char USAGE[] =
    "usage: fsd [--verbose] --share SOCKET:ROOT[:ro][:file=NAME] [--share ...]\n"
    "  Serves each ROOT as a virtio-fs device to the vhost-user front-end (QEMU) that connects\n"
    "  to SOCKET. ro: read-only; file=NAME: the root shows only its entry NAME.\n";

/*
 * A non-blocking listening socket only its owner may connect to, replacing a stale one. It
 * is bound and listening under PATH~ first, then renamed: whoever sees PATH (the runtime
 * waits for it) can connect at once, never between bind and listen.
 */
static int listen_at(const char *path, char *why, size_t whylen) {
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
  const char *step = rc < 0 ? "bind" : listen(fd, 1) < 0 ? "listen" : rename(addr.sun_path, path) < 0 ? "rename" : NULL;
  if (step) {
    snprintf(why, whylen, "%s: %s", step, strerror(errno));
    if (rc == 0) unlink(addr.sun_path);
    close(fd);
    return -1;
  }
  return fd;
}

static void trace_line(void *ctx, const char *line) {
  fprintf(stderr, "fsd: share=%s %s\n", ((struct share *)ctx)->socket_path, line);
}

/* Opens every share in the order given, so that the last socket appearing means all are up. */
static int open_shares(const struct fsd_args *args, struct share **shares) {
  for (size_t i = 0; i < args->share_count; i++) {
    const struct share_spec *spec = &args->shares[i];
    char why[256];
    struct fs_options options = {.root = spec->root,
                                 .read_only = spec->read_only,
                                 .only_name = spec->only_name,
                                 .max_inode_fds = fs_inode_fds_budget(args->share_count)};
    struct fs_server *server = fs_server_new(&options, why, sizeof why);
    int fd = server ? listen_at(spec->socket_path, why, sizeof why) : -1;
    if (fd < 0) {
      fprintf(stderr, "fsd: --share %s:%s: %s\n", spec->socket_path, spec->root, why);
      if (server) fs_server_free(server);
      return -1;
    }
    shares[i] = share_new(spec->socket_path, server, fd);
    if (args->verbose) {
      shares[i]->dev.trace = trace_line;
      shares[i]->dev.trace_ctx = shares[i];
    }
  }
  return 0;
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

/* Polls until every share is done or a signal ends fsd. */
static void run(struct share **shares, size_t count, int sigfd) {
  struct pollfd fds[1 + ARGS_MAX_SHARES * SHARE_MAX_FDS];
  struct share_slot slots[1 + ARGS_MAX_SHARES * SHARE_MAX_FDS];
  for (;;) {
    size_t n = 0, live = 0;
    int timeout = -1;
    fds[n++] = (struct pollfd){.fd = sigfd, .events = POLLIN};
    for (size_t i = 0; i < count; i++) {
      if (shares[i]->done) continue;
      live++;
      n += share_poll_fds(shares[i], fds + n, slots + n, &timeout);
    }
    if (live == 0) return;
    if (poll(fds, n, timeout) < 0 && errno != EINTR) {
      fprintf(stderr, "fsd: poll: %s\n", strerror(errno));
      return;
    }
    if (fds[0].revents) return;
    for (size_t i = 1; i < n; i++) share_event(&slots[i], fds[i].revents);
    for (size_t i = 0; i < count; i++) share_tick(shares[i]);
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
  struct share *shares[ARGS_MAX_SHARES] = {0};
  int status = open_shares(&args, shares) < 0 ? 1 : 0;
  if (status == 0) run(shares, args.share_count, sigfd);
  for (size_t i = 0; i < args.share_count; i++) {
    if (!shares[i]) continue;
    /* Only the sockets this process bound are removed. */
    unlink(args.shares[i].socket_path);
    share_free(shares[i]);
  }
  return status;
}
