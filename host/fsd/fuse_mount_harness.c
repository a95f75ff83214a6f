/*
 * fsd-fuse-harness ROOT MOUNTPOINT [--read-only] [--file NAME]: serves ROOT with the FUSE half
 * on the host's own /dev/fuse, mounted at MOUNTPOINT, so its semantics can be tested without a
 * VM. fsd-fuse-harness MOUNTPOINT --share NAME:ROOT[:ro][:file=FILE] …: serves the shares as
 * fsd does, through the mux (mux.h). Prints "ready" once mounted; serves until unmounted, or
 * until SIGTERM (then detaches the mount). Root only (mount(2)).
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

#include "args.h"
#include "fs_server.h"
#include "mux.h"

/* Matches INIT's max_write, plus room for the request's header and fuse_write_in. */
#define BUF_SIZE ((1u << 20) + 4096)

static int usage(void) {
  fprintf(stderr, "usage: fsd-fuse-harness ROOT MOUNTPOINT [--read-only] [--file NAME]\n"
                  "       fsd-fuse-harness MOUNTPOINT --share NAME:ROOT[:ro][:file=FILE] ...\n");
  return 2;
}

/* One share alone, or the shares through the mux. */
struct server {
  struct fs_server *one;
  struct fs_mux *mux;
};

/* Serves until the kernel says the mount is gone (ENODEV) or SIGTERM arrives; 0 or 1. */
static int serve(const struct server *server, int fuse_fd, const sigset_t *unblocked) {
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
    size_t len = server->mux ? fs_mux_handle(server->mux, &iov_in, 1, &iov_out, 1)
                             : fs_server_handle(server->one, &iov_in, 1, &iov_out, 1);
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

/* The mux of `--share VALUE …` (argv from the first --share on); NULL after a message. */
static struct fs_mux *open_mux(int argc, char **argv) {
  static struct mux_share shares[ARGS_MAX_SHARES];
  size_t count = 0;
  char why[512];
  for (int i = 0; i < argc; i += 2) {
    struct share_spec spec = {0};
    if (strcmp(argv[i], "--share") || i + 1 == argc || count == ARGS_MAX_SHARES) {
      usage();
      return NULL;
    }
    if (args_parse_share(argv[i + 1], &spec, why, sizeof why) < 0) {
      fprintf(stderr, "fsd-fuse-harness: %s\n", why);
      return NULL;
    }
    shares[count++] = (struct mux_share){
        .name = spec.name, .options = {.root = spec.root, .read_only = spec.read_only, .only_name = spec.only_name}};
  }
  /* As fsd does: the shares split the descriptors the process may hold. */
  for (size_t i = 0; i < count; i++) shares[i].options.max_inode_fds = fs_inode_fds_budget(count);
  struct fs_mux *mux = fs_mux_new(shares, count, why, sizeof why);
  if (!mux) fprintf(stderr, "fsd-fuse-harness: %s\n", why);
  return mux;
}

int main(int argc, char **argv) {
  if (argc < 3) return usage();
  bool mux_mode = !strcmp(argv[2], "--share");
  struct fs_options options = {.root = argv[1]};
  const char *mountpoint = mux_mode ? argv[1] : argv[2];
  for (int i = 3; i < argc && !mux_mode; i++) {
    if (!strcmp(argv[i], "--read-only")) options.read_only = true;
    else if (!strcmp(argv[i], "--file") && i + 1 < argc) options.only_name = argv[++i];
    else return usage();
  }
  /* The guest's kernel has applied its umask already; the modes it sends are final. */
  umask(0);
  fs_raise_nofile();
  char why[256];
  struct server server = {0};
  if (mux_mode) {
    server.mux = open_mux(argc - 2, argv + 2);
  } else if (!(server.one = fs_server_new(&options, why, sizeof why))) {
    fprintf(stderr, "fsd-fuse-harness: %s\n", why);
  }
  if (!server.one && !server.mux) return 1;
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
  int status = serve(&server, fuse_fd, &unblocked);
  umount2(mountpoint, MNT_DETACH);
  close(fuse_fd);
  fs_server_free(server.one);
  fs_mux_free(server.mux);
  return status;
}
