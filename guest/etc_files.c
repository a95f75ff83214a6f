#include "etc_files.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Both files are the agent's, not the image's: a user who edits one should know why it reverts. */
#define HEADER "# Written by boxlite at every boot from the box's network settings.\n"

static void print_resolv_conf(FILE *f, const struct guest_config *cfg) {
  const struct guest_network *net = &cfg->network;
  fputs(HEADER, f);
  for (size_t i = 0; i < net->nameserver_count; i++) {
    char address[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &net->nameservers[i], address, sizeof address);
    fprintf(f, "nameserver %s\n", address);
  }
  if (net->search[0]) fprintf(f, "search %s\n", net->search);
}

static void print_hosts(FILE *f, const struct guest_config *cfg) {
  char address[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &cfg->network.address, address, sizeof address);
  fprintf(f, HEADER "127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n", address, cfg->hostname);
}

/* A file's new text, rendered once for whichever way it is written. */
struct text {
  char data[1024];
  size_t len;
};

static int render(void (*print)(FILE *, const struct guest_config *), const struct guest_config *cfg,
                  struct text *out) {
  FILE *f = fmemopen(out->data, sizeof out->data, "w");
  if (!f) return -errno;
  print(f, cfg);
  long n = ftell(f);
  bool bad = ferror(f) || n < 0 || (size_t)n >= sizeof out->data;
  fclose(f);
  if (bad) return -EOVERFLOW;
  out->len = (size_t)n;
  return 0;
}

static int write_text(int fd, const struct text *t) {
  for (size_t off = 0; off < t->len;) {
    ssize_t n = pwrite(fd, t->data + off, t->len - off, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    off += (size_t)n;
  }
  return 0;
}

/* Rewrites name where it is (mode 0644, owner root) when it is a regular file with no other link,
 * so that no other name sees the change, as after a rename. Nothing runs in the box yet, so no
 * reader sees it half written; and reusing the inode and its block spares the filesystem an
 * inode allocation and a free (~10 ms per file under emulation). Opened without following a
 * symlink or waiting on a FIFO. False when it was not done (the file may be half written):
 * replace_file then replaces it whole. */
static bool rewrite_in_place(int dir, const char *name, const struct text *t) {
  struct stat st;
  if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1) return false;
  int fd = openat(dir, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  /* Owner and mode set only when they differ: each is an inode change ext4 journals. */
  bool done = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && write_text(fd, t) == 0 &&
              ((size_t)st.st_size <= t->len || ftruncate(fd, (off_t)t->len) == 0) &&
              ((st.st_uid == 0 && st.st_gid == 0) || fchown(fd, 0, 0) == 0) &&
              ((st.st_mode & 07777) == 0644 || fchmod(fd, 0644) == 0);
  close(fd);
  return done;
}

/* Writes name: in place when it can (rewrite_in_place), directly when nothing is there, else as
 * a temporary file in dir renamed over name: rename replaces a symlink (or any other kind of
 * file) at name instead of following it. No fsync: the file is written again at
 * every boot, so one a crash empties comes back at the next. Returns 0 or -errno; on failure the
 * temporary file is gone. */
static int replace_file(int dir, const char *name, void (*print)(FILE *, const struct guest_config *),
                        const struct guest_config *cfg) {
  struct text t;
  int e = -render(print, cfg, &t);
  if (e) return -e;
  if (rewrite_in_place(dir, name, &t)) return 0;
  /* Nothing there (most images have no resolv.conf): written under its own name at once, a
   * rename spared; nothing in the box runs yet to see it half written. */
  int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd >= 0) {
    e = -write_text(fd, &t);
    if (fchmod(fd, 0644) < 0 && !e) e = errno;
    if (close(fd) != 0 && !e) e = errno;
    if (e) unlinkat(dir, name, 0);
    return -e;
  }
  if (errno != EEXIST) return -errno;
  char tmp[32];
  snprintf(tmp, sizeof tmp, ".%s.boxlite", name);
  /* What a boot that stopped midway may have left (O_EXCL below follows nothing either). */
  if (unlinkat(dir, tmp, 0) < 0 && errno != ENOENT) return -errno;
  fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  e = -write_text(fd, &t);
  if (fchmod(fd, 0644) < 0 && !e) e = errno; /* open's mode is masked by the umask */
  if (close(fd) != 0 && !e) e = errno;
  if (!e && renameat(dir, tmp, dir, name) < 0) e = errno;
  if (e) unlinkat(dir, tmp, 0);
  return -e;
}

/* Opens root/etc, creating it when the image has none. Returns the fd or -errno. */
static int open_etc(const char *root) {
  int top = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top < 0) return -errno;
  int dir = -1;
  if (mkdirat(top, "etc", 0755) == 0 || errno == EEXIST)
    dir = openat(top, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int e = errno;
  close(top);
  return dir < 0 ? -e : dir;
}

int etc_files_write(const char *root, const struct guest_config *cfg, char *err, size_t errlen) {
  int dir = open_etc(root);
  if (dir == -ENOTDIR || dir == -ELOOP) {
    snprintf(err, errlen, "%s/etc is not a directory (a symlink there is not followed)", root);
    return -1;
  }
  if (dir < 0) {
    snprintf(err, errlen, "open %s/etc: %s", root, strerror(-dir));
    return -1;
  }
  const char *name = "resolv.conf";
  int rc = replace_file(dir, name, print_resolv_conf, cfg);
  if (rc == 0) {
    name = "hosts";
    rc = replace_file(dir, name, print_hosts, cfg);
  }
  close(dir);
  if (rc < 0) snprintf(err, errlen, "write %s/etc/%s: %s", root, name, strerror(-rc));
  return rc < 0 ? -1 : 0;
}
