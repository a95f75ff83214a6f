/*
 * fsd-fuse-harness ROOT MOUNTPOINT [--read-only] [--file NAME]: serves ROOT with the FUSE half
 * on the host's own /dev/fuse, mounted at MOUNTPOINT, so its semantics can be tested without a
 * VM. Prints "ready" once mounted; serves until unmounted, or until SIGTERM (then detaches the
 * mount). Root only (mount(2)).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_server.h"

/* Matches INIT's max_write, plus room for the request's header and fuse_write_in. */
#define BUF_SIZE ((1u << 20) + 4096)

static int usage(void) {
  fprintf(stderr, "usage: fsd-fuse-harness ROOT MOUNTPOINT [--read-only] [--file NAME]\n");
  return 2;
}

/* Serves until the kernel says the mount is gone (ENODEV) or SIGTERM arrives; 0 or 1. */
static int serve(struct fs_server *server, int fuse_fd, const sigset_t *unblocked) {
  uint8_t *in = malloc(BUF_SIZE), *out = malloc(BUF_SIZE);
  int status = 1;
  if (!in || !out) goto done;
  for (;;) {
    struct pollfd p = {.fd = fuse_fd, .events = POLLIN};
    /* ppoll unblocks SIGTERM only while waiting: a SIGTERM is never lost between checks. */
    if (ppoll(&p, 1, NULL, unblocked) < 0) {
      if (errno == EINTR) {
        status = 0;
        goto done;
      }
      perror("ppoll");
      goto done;
    }
    ssize_t n = read(fuse_fd, in, BUF_SIZE);
    if (n < 0) {
      if (errno == ENOENT || errno == EINTR || errno == EAGAIN) continue; /* the request was interrupted */
      status = errno == ENODEV ? 0 : 1;
      if (status) perror("read /dev/fuse");
      goto done;
    }
    struct iovec iov_in = {in, (size_t)n}, iov_out = {out, BUF_SIZE};
    size_t len = fs_server_handle(server, &iov_in, 1, &iov_out, 1);
    /* ENOENT: the kernel gave up on the request (interrupted) before our reply. */
    if (len && write(fuse_fd, out, len) < 0 && errno != ENOENT) {
      if (errno == ENODEV) {
        status = 0;
        goto done;
      }
      perror("write /dev/fuse");
    }
  }
done:
  free(in);
  free(out);
  return status;
}

static void on_term(int sig) { (void)sig; }

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  struct fs_options options = {.root = argv[1]};
  const char *mountpoint = argv[2];
  for (int i = 3; i < argc; i++) {
    if (!strcmp(argv[i], "--read-only")) options.read_only = true;
    else if (!strcmp(argv[i], "--file") && i + 1 < argc) options.only_name = argv[++i];
    else return usage();
  }
  /* The guest's kernel has applied its umask already; the modes it sends are final. */
  umask(0);
  fs_raise_nofile();
  char why[256];
  struct fs_server *server = fs_server_new(&options, why, sizeof why);
  if (!server) {
    fprintf(stderr, "fsd-fuse-harness: %s\n", why);
    return 1;
  }
  sigset_t blocked, unblocked;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigprocmask(SIG_BLOCK, &blocked, &unblocked);
  sigaction(SIGTERM, &(struct sigaction){.sa_handler = on_term}, NULL);
  int fuse_fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
  if (fuse_fd < 0) {
    perror("open /dev/fuse");
    return 1;
  }
  char data[128];
  snprintf(data, sizeof data, "fd=%d,rootmode=40000,user_id=0,group_id=0,default_permissions,allow_other", fuse_fd);
  /* As the guest mounts its shares: a device node in the share is never the host's device. */
  if (mount("fsd", mountpoint, "fuse", MS_NOSUID | MS_NODEV, data) < 0) {
    fprintf(stderr, "fsd-fuse-harness: mount(%s): %s\n", mountpoint, strerror(errno));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  int status = serve(server, fuse_fd, &unblocked);
  umount2(mountpoint, MNT_DETACH);
  close(fuse_fd);
  fs_server_free(server);
  return status;
}
