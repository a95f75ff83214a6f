/* FILES_OUT: a streaming tar of one path, walked with directory fds (never a whole path). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "files_impl.h"
#include "tar.h"

struct walker {
  int out_fd;
  size_t len;          /* bytes in buf */
  char prefix[TAR_NAME_MAX + 1]; /* name of the directory being walked ("" at the top without parent) */
  size_t prefix_len;
  dev_t dev;              /* filesystem of the directory being walked */
  struct inode_map links; /* (dev, ino) of multiply-linked non-directories -> first name */
  struct files_result *res;
  struct tar_entry e;
  uint8_t header[TAR_ENCODE_MAX];
  uint8_t buf[FILES_BUF];
};

static int flush(struct walker *wk) {
  if (files_write_all(wk->out_fd, wk->buf, wk->len) < 0) return files_fail_errno(wk->res, "write the tar");
  wk->len = 0;
  return 0;
}

static int emit(struct walker *wk, const void *data, size_t n) {
  const uint8_t *p = data;
  while (n > 0) {
    if (wk->len == sizeof wk->buf && flush(wk) < 0) return -1;
    size_t chunk = sizeof wk->buf - wk->len < n ? sizeof wk->buf - wk->len : n;
    memcpy(wk->buf + wk->len, p, chunk);
    wk->len += chunk;
    p += chunk;
    n -= chunk;
  }
  return 0;
}

static int emit_padding(struct walker *wk, uint64_t size) {
  static const uint8_t zeros[TAR_BLOCK];
  size_t rest = (size_t)(size % TAR_BLOCK);
  return rest ? emit(wk, zeros, TAR_BLOCK - rest) : 0;
}

/* Opens what st describes and checks it is still that inode (it may have been replaced). */
static int open_checked(struct walker *wk, int dirfd, const char *leaf, int flags, const struct stat *st) {
  int fd = openat(dirfd, leaf, flags | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return files_fail_errno(wk->res, "open \"%s\"", wk->e.name);
  struct stat now;
  if (fstat(fd, &now) < 0 || now.st_dev != st->st_dev || now.st_ino != st->st_ino) {
    close(fd);
    return files_fail(wk->res, FILES_FAILED, "\"%s\" changed while it was being copied", wk->e.name);
  }
  return fd;
}

/* The entry name: the walked directory's name, the leaf, and a slash for a directory. */
static int set_name(struct walker *wk, const char *leaf, bool dir) {
  size_t n = strlen(leaf);
  size_t sep = wk->prefix_len && n ? 1 : 0;
  if (wk->prefix_len + sep + n + dir > TAR_NAME_MAX)
    return files_fail(wk->res, FILES_FAILED, "name too long: \"%s/%s\"", wk->prefix, leaf);
  char *p = wk->e.name;
  memcpy(p, wk->prefix, wk->prefix_len);
  p += wk->prefix_len;
  if (sep) *p++ = '/';
  memcpy(p, leaf, n);
  p += n;
  if (dir) *p++ = '/';
  *p = '\0';
  return 0;
}

/* Fills the entry from st; returns 1 when st is a socket (tar cannot hold it: skipped). */
static int fill_entry(struct walker *wk, int dirfd, const char *leaf, const struct stat *st) {
  struct tar_entry *e = &wk->e;
  e->mode = st->st_mode & 07777;
  e->uid = st->st_uid;
  e->gid = st->st_gid;
  e->mtime = st->st_mtim.tv_sec;
  e->size = 0;
  e->linkname[0] = '\0';
  e->devmajor = e->devminor = 0;
  switch (st->st_mode & S_IFMT) {
  case S_IFREG: e->type = TAR_FILE, e->size = (uint64_t)st->st_size; break;
  case S_IFDIR: e->type = TAR_DIR; break;
  case S_IFIFO: e->type = TAR_FIFO; break;
  case S_IFCHR: e->type = TAR_CHAR; break;
  case S_IFBLK: e->type = TAR_BLOCKDEV; break;
  case S_IFLNK: e->type = TAR_SYMLINK; break;
  default: return 1;
  }
  if (e->type == TAR_CHAR || e->type == TAR_BLOCKDEV) {
    e->devmajor = major(st->st_rdev);
    e->devminor = minor(st->st_rdev);
  }
  if (e->type != TAR_SYMLINK) return 0;
  ssize_t n = readlinkat(dirfd, leaf, e->linkname, TAR_NAME_MAX + 1);
  if (n < 0) return files_fail_errno(wk->res, "readlink \"%s\"", e->name);
  if ((size_t)n > TAR_NAME_MAX) return files_fail(wk->res, FILES_FAILED, "symlink target too long: \"%s\"", e->name);
  e->linkname[n] = '\0';
  return 0;
}

/* A second name of an inode already archived becomes a hard link to the first. */
static int link_or_remember(struct walker *wk, const struct stat *st) {
  if (S_ISDIR(st->st_mode) || st->st_nlink < 2) return 0;
  const struct inode_slot *seen = inode_map_find(&wk->links, st->st_dev, st->st_ino);
  if (!seen) {
    if (inode_map_add(&wk->links, st->st_dev, st->st_ino, wk->e.name) < 0)
      return files_fail(wk->res, FILES_FAILED, "out of memory");
    return 0;
  }
  wk->e.type = TAR_HARDLINK;
  wk->e.size = 0;
  memcpy(wk->e.linkname, seen->name, strlen(seen->name) + 1);
  return 0;
}

static int emit_header(struct walker *wk) { return emit(wk, wk->header, tar_encode(&wk->e, wk->header)); }

/* Streams exactly the size in the header: a file that shrinks meanwhile fails the copy. */
static int emit_data(struct walker *wk, int fd) {
  uint64_t left = wk->e.size;
  while (left > 0) {
    if (wk->len == sizeof wk->buf && flush(wk) < 0) return -1;
    size_t room = sizeof wk->buf - wk->len;
    ssize_t n = read(fd, wk->buf + wk->len, left < room ? (size_t)left : room);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return files_fail_errno(wk->res, "read \"%s\"", wk->e.name);
    if (n == 0) return files_fail(wk->res, FILES_FAILED, "\"%s\" shrank while it was being copied", wk->e.name);
    wk->len += (size_t)n;
    left -= (uint64_t)n;
  }
  return emit_padding(wk, wk->e.size);
}

/* Mounted pseudo filesystems (the container's /proc, /sys...) are archived empty. */
static bool is_pseudo_fs(int fd) {
  static const unsigned long pseudo[] = {
      0x9fa0,     /* proc */
      0x62656572, /* sysfs */
      0x1cd1,     /* devpts */
      0x27e0eb,   /* cgroup */
      0x63677270, /* cgroup2 */
      0x64626720, /* debugfs */
      0x74726163, /* tracefs */
      0x73636673, /* securityfs */
  };
  struct statfs fs;
  if (fstatfs(fd, &fs) < 0) return false;
  for (size_t i = 0; i < sizeof pseudo / sizeof pseudo[0]; i++)
    if ((unsigned long)fs.f_type == pseudo[i]) return true;
  return false;
}

static int archive(struct walker *wk, int dirfd, const char *leaf, const char *name, const struct stat *st,
                   int nofollow);

static int walk_children(struct walker *wk, int fd) {
  DIR *d = fdopendir(fd);
  if (!d) {
    close(fd);
    return files_fail_errno(wk->res, "opendir \"%s\"", wk->prefix);
  }
  int rc = 0;
  for (;;) {
    errno = 0;
    struct dirent *ent = readdir(d);
    if (!ent) {
      if (errno) rc = files_fail_errno(wk->res, "readdir \"%s\"", wk->prefix);
      break;
    }
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    struct stat st;
    if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
      if (errno == ENOENT) continue; /* removed since readdir: not part of the copy */
      rc = files_fail_errno(wk->res, "stat \"%s/%s\"", wk->prefix, ent->d_name);
      break;
    }
    if ((rc = archive(wk, dirfd(d), ent->d_name, ent->d_name, &st, O_NOFOLLOW)) < 0) break;
  }
  closedir(d);
  return rc;
}

/* A directory: its entry (unless it is the unnamed top), then its children under its name. */
static int archive_dir(struct walker *wk, int dirfd, const char *leaf, const struct stat *st, int nofollow,
                       bool named) {
  int fd = open_checked(wk, dirfd, leaf, O_RDONLY | O_DIRECTORY | nofollow, st);
  if (fd < 0) return -1;
  if (named && emit_header(wk) < 0) {
    close(fd);
    return -1;
  }
  if (st->st_dev != wk->dev && is_pseudo_fs(fd)) {
    close(fd);
    return 0;
  }
  size_t saved = wk->prefix_len;
  dev_t saved_dev = wk->dev;
  if (named) {
    wk->prefix_len = strlen(wk->e.name) - 1; /* without the trailing slash */
    memcpy(wk->prefix, wk->e.name, wk->prefix_len);
    wk->prefix[wk->prefix_len] = '\0';
  }
  wk->dev = st->st_dev;
  int rc = walk_children(wk, fd);
  wk->dev = saved_dev;
  wk->prefix_len = saved;
  wk->prefix[saved] = '\0';
  return rc;
}

/* One entry named name (under the walked directory's name), found as leaf in dirfd. */
static int archive(struct walker *wk, int dirfd, const char *leaf, const char *name, const struct stat *st,
                   int nofollow) {
  if (set_name(wk, name, S_ISDIR(st->st_mode)) < 0) return -1;
  int rc = fill_entry(wk, dirfd, leaf, st);
  if (rc != 0) return rc < 0 ? -1 : 0;
  if (link_or_remember(wk, st) < 0) return -1;
  if (wk->e.type == TAR_DIR) return archive_dir(wk, dirfd, leaf, st, nofollow, true);
  if (wk->e.type != TAR_FILE) return emit_header(wk);
  /* Opened before its header goes out, so a file that cannot be read leaves no half entry. */
  int fd = open_checked(wk, dirfd, leaf, O_RDONLY | O_NONBLOCK | nofollow, st);
  if (fd < 0) return -1;
  rc = emit_header(wk) < 0 ? -1 : emit_data(wk, fd);
  close(fd);
  return rc;
}

/* The top path: named by its basename, except a directory copied without its parent (or
 * one with no usable name, such as "/" or "/dir/.") whose children come first. */
static int archive_top(struct walker *wk, int rootfd, const struct files_spec *spec, const struct stat *st) {
  char base[256];
  if (files_basename(spec->path, base, sizeof base) < 0)
    return files_fail(wk->res, FILES_FAILED, "name too long: \"%s\"", spec->path);
  if (S_ISSOCK(st->st_mode)) return files_fail(wk->res, FILES_FAILED, "%s is a socket", spec->path);
  const char *rel = files_relative(spec->path);
  int nofollow = spec->follow_symlinks ? 0 : O_NOFOLLOW;
  bool unnamed = !base[0] || strcmp(base, ".") == 0 || strcmp(base, "..") == 0;
  wk->dev = st->st_dev; /* the top is copied even on a pseudo filesystem: it was asked for */
  if (!S_ISDIR(st->st_mode) || (spec->include_parent && !unnamed))
    return archive(wk, rootfd, rel, base, st, nofollow);
  wk->e.name[0] = '\0';
  return archive_dir(wk, rootfd, rel, st, nofollow, false);
}

static int finish(struct walker *wk) {
  static const uint8_t end[2 * TAR_BLOCK];
  return emit(wk, end, sizeof end) < 0 ? -1 : flush(wk);
}

int files_out(int rootfd, const struct files_spec *spec, int out_fd, struct files_result *res) {
  memset(res, 0, sizeof *res);
  struct walker *wk = calloc(1, sizeof *wk);
  if (!wk) return files_fail(res, FILES_FAILED, "out of memory"), res->code;
  wk->out_fd = out_fd;
  wk->res = res;
  struct stat st;
  const char *rel = files_relative(spec->path);
  if (fstatat(rootfd, rel, &st, spec->follow_symlinks ? 0 : AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) files_fail(res, FILES_MISSING, "%s does not exist", spec->path);
    else files_fail_errno(res, "stat \"%s\"", spec->path);
  } else if (archive_top(wk, rootfd, spec, &st) == 0) {
    finish(wk);
  }
  inode_map_free(&wk->links);
  free(wk);
  return res->code;
}
