/*
 * FILES_IN's entries: names are checked (no "..", not absolute), resolved one component at
 * a time from the destination, and created without ever following a symlink this copy
 * made (the kernel never resolves an entry's path by itself: every symlink met on the way
 * is resolved here, inside the root, and refused if it came from the tar).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "files_impl.h"

/* Like the kernel's limit on symlinks followed in one lookup. */
#define MAX_HOPS 40

static int dup_dir(struct extract *x, int fd) {
  int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  return copy < 0 ? files_fail_errno(x->res, "dup") : copy;
}

static int open_dir(struct extract *x, int dirfd, const char *comp, const char *what) {
  int fd = openat(dirfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  return fd < 0 ? files_fail_errno(x->res, "%s: open \"%s\"", what, comp) : fd;
}

static bool is_root(struct extract *x, int fd) {
  struct stat st;
  return fstat(fd, &st) == 0 && st.st_dev == x->root_dev && st.st_ino == x->root_ino;
}

static int walk_from(struct extract *x, int dirfd, const char *path, size_t len, bool create, const char *what);

/* A symlink met on the way: resolved by walking its target (from the root when absolute). */
static int follow(struct extract *x, int dirfd, const char *comp, const struct stat *st, const char *what) {
  if (inode_map_find(&x->created, st->st_dev, st->st_ino))
    return files_fail(x->res, FILES_REFUSED, "%s: \"%s\" is a symbolic link from this tar", what, comp);
  if (++x->hops > MAX_HOPS) return files_fail(x->res, FILES_REFUSED, "%s: too many symbolic links", what);
  char target[PATH_MAX];
  ssize_t n = readlinkat(dirfd, comp, target, sizeof target - 1);
  if (n < 0) return files_fail_errno(x->res, "%s: readlink \"%s\"", what, comp);
  target[n] = '\0';
  /* Through an existing link nothing is created: a dangling one is a missing directory. */
  return walk_from(x, target[0] == '/' ? x->root : dirfd, target, (size_t)n, false, what);
}

/* From directory dirfd into comp, which must be or lead to a directory. */
static int step(struct extract *x, int dirfd, const char *comp, bool create, const char *what) {
  if (strcmp(comp, ".") == 0 || (strcmp(comp, "..") == 0 && is_root(x, dirfd))) return dup_dir(x, dirfd);
  if (strcmp(comp, "..") == 0) return open_dir(x, dirfd, comp, what);
  struct stat st;
  if (fstatat(dirfd, comp, &st, AT_SYMLINK_NOFOLLOW) < 0) {
    if (errno != ENOENT) return files_fail_errno(x->res, "%s: stat \"%s\"", what, comp);
    if (!create) return files_fail(x->res, FILES_MISSING, "%s: \"%s\" does not exist", what, comp);
    if (mkdirat(dirfd, comp, 0755) < 0) return files_fail_errno(x->res, "%s: mkdir \"%s\"", what, comp);
    return open_dir(x, dirfd, comp, what);
  }
  if (S_ISDIR(st.st_mode)) return open_dir(x, dirfd, comp, what);
  if (S_ISLNK(st.st_mode)) return follow(x, dirfd, comp, &st, what);
  return files_fail(x->res, FILES_REFUSED, "%s: \"%s\" exists and is not a directory", what, comp);
}

static int walk_from(struct extract *x, int dirfd, const char *path, size_t len, bool create, const char *what) {
  const char *end = path + len;
  int fd = dup_dir(x, dirfd);
  while (fd >= 0 && path < end) {
    const char *slash = memchr(path, '/', (size_t)(end - path));
    size_t n = slash ? (size_t)(slash - path) : (size_t)(end - path);
    char comp[NAME_MAX + 1];
    if (n > NAME_MAX) {
      close(fd);
      errno = ENAMETOOLONG;
      return files_fail_errno(x->res, "%s", what);
    }
    memcpy(comp, path, n);
    comp[n] = '\0';
    path += n + (slash != NULL);
    if (n == 0) continue;
    int next = step(x, fd, comp, create, what);
    close(fd);
    fd = next;
  }
  return fd;
}

int extract_walk(struct extract *x, int dirfd, const char *path, size_t len, bool create, const char *what) {
  x->hops = 0;
  return walk_from(x, dirfd, path, len, create, what);
}

/* Joins raw's components into out, dropping empty and "." ones; ".." or a leading "/" is
 * refused: an entry may not leave the destination. */
static int clean_name(struct extract *x, const char *raw, char *out, const char *what) {
  if (raw[0] == '/') return files_fail(x->res, FILES_REFUSED, "refusing %s \"%s\": absolute name", what, raw);
  size_t len = 0;
  for (const char *p = raw; *p;) {
    size_t n = strcspn(p, "/");
    if (n == 2 && p[0] == '.' && p[1] == '.')
      return files_fail(x->res, FILES_REFUSED, "refusing %s \"%s\": it has a \"..\" component", what, raw);
    if (n > 0 && !(n == 1 && p[0] == '.')) {
      if (len) out[len++] = '/';
      memcpy(out + len, p, n);
      len += n;
    }
    p += n + (p[n] == '/');
  }
  out[len] = '\0';
  return 0;
}

/* contents: false: every name must start with the first one's top-level name T, which
 * becomes x->rename when there is one. A hard link outside T points outside the copy. */
static int map_name(struct extract *x, char *name, bool link_target) {
  if (!x->single_top || !name[0]) return 0;
  size_t n = strcspn(name, "/");
  if (!x->top[0] && !link_target) {
    if (n >= sizeof x->top) return files_fail(x->res, FILES_FAILED, "name too long: \"%s\"", name);
    memcpy(x->top, name, n);
    x->top[n] = '\0';
  }
  if (strlen(x->top) != n || memcmp(x->top, name, n) != 0) {
    if (link_target)
      return files_fail(x->res, FILES_REFUSED, "refusing a hard link to \"%s\", outside the copy", name);
    return files_fail(x->res, FILES_FAILED, "the tar has more than one top-level name (\"%s\" and \"%.*s\")", x->top,
                      (int)n, name);
  }
  if (!x->rename) return 0;
  size_t rlen = strlen(x->rename), rest = strlen(name + n);
  memmove(name + rlen, name + n, rest + 1);
  memcpy(name, x->rename, rlen);
  return 0;
}

/* The last component of name; *parent_len is the length of what precedes it (no slash). */
static const char *find_leaf(const char *name, size_t *parent_len) {
  const char *slash = strrchr(name, '/');
  *parent_len = slash ? (size_t)(slash - name) : 0;
  return slash ? slash + 1 : name;
}

/* Where a non-directory goes: nothing there, or a non-directory it may replace. */
static int make_room(struct extract *x, int dirfd, const char *leaf, const char *name) {
  struct stat st;
  if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? 0 : files_fail_errno(x->res, "stat \"%s\"", name);
  if (S_ISDIR(st.st_mode))
    return files_fail(x->res, FILES_REFUSED, "refusing to replace directory \"%s\" with a non-directory", name);
  if (x->no_overwrite) return files_fail(x->res, FILES_REFUSED, "refusing to replace \"%s\" (no_overwrite)", name);
  if (unlinkat(dirfd, leaf, 0) < 0 && errno != ENOENT) return files_fail_errno(x->res, "unlink \"%s\"", name);
  return 0;
}

/* chown as the tar says; without root that is expected to fail, and is not an error. */
static int set_owner(struct extract *x, int rc, const char *name) {
  if (rc == 0 || (errno == EPERM && !x->chown_required)) return 0;
  return files_fail_errno(x->res, "chown \"%s\"", name);
}

static int write_data(struct extract *x, int fd, struct tar_reader *r, const char *name) {
  const uint8_t *chunk;
  ssize_t n;
  while ((n = tar_reader_data(r, &chunk)) > 0)
    if (files_write_all(fd, chunk, (size_t)n) < 0) return files_fail_errno(x->res, "write \"%s\"", name);
  return n < 0 ? -1 : 0;
}

static int create_file(struct extract *x, int dirfd, const char *leaf, const struct tar_entry *e,
                       struct tar_reader *r) {
  /* O_EXCL: make_room removed what was there; if anything is back, it is not ours to write. */
  int fd = openat(dirfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return files_fail_errno(x->res, "create \"%s\"", x->name);
  const struct timespec times[2] = {{0, UTIME_OMIT}, {e->mtime, 0}};
  int rc = write_data(x, fd, r, x->name);
  /* chown before chmod: chown clears setuid and setgid. */
  if (rc == 0) rc = set_owner(x, fchown(fd, e->uid, e->gid), x->name);
  if (rc == 0 && fchmod(fd, e->mode) < 0) rc = files_fail_errno(x->res, "chmod \"%s\"", x->name);
  if (rc == 0 && futimens(fd, times) < 0) rc = files_fail_errno(x->res, "set the mtime of \"%s\"", x->name);
  if (close(fd) < 0 && rc == 0) rc = files_fail_errno(x->res, "write \"%s\"", x->name);
  return rc;
}

/* Owner and mtime of a node that is not opened (a symlink, a fifo, a device). */
static int set_node_meta(struct extract *x, int dirfd, const char *leaf, const struct tar_entry *e) {
  const struct timespec times[2] = {{0, UTIME_OMIT}, {e->mtime, 0}};
  if (set_owner(x, fchownat(dirfd, leaf, e->uid, e->gid, AT_SYMLINK_NOFOLLOW), x->name) < 0) return -1;
  if (utimensat(dirfd, leaf, times, AT_SYMLINK_NOFOLLOW) < 0)
    return files_fail_errno(x->res, "set the mtime of \"%s\"", x->name);
  return 0;
}

static int create_symlink(struct extract *x, int dirfd, const char *leaf, const struct tar_entry *e) {
  struct stat st;
  if (symlinkat(e->linkname, dirfd, leaf) < 0) return files_fail_errno(x->res, "symlink \"%s\"", x->name);
  if (fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0) return files_fail_errno(x->res, "stat \"%s\"", x->name);
  if (inode_map_add(&x->created, st.st_dev, st.st_ino, NULL) < 0)
    return files_fail(x->res, FILES_FAILED, "out of memory");
  return set_node_meta(x, dirfd, leaf, e);
}

static int create_node(struct extract *x, int dirfd, const char *leaf, const struct tar_entry *e) {
  mode_t type = e->type == TAR_FIFO ? S_IFIFO : e->type == TAR_CHAR ? S_IFCHR : S_IFBLK;
  /* The mode is given whole at creation: a chmod afterwards would follow a swapped-in symlink. */
  mode_t saved = umask(0);
  int rc = mknodat(dirfd, leaf, type | (e->mode & 07777), makedev(e->devmajor, e->devminor));
  umask(saved);
  if (rc < 0) return files_fail_errno(x->res, "mknod \"%s\"", x->name);
  return set_node_meta(x, dirfd, leaf, e);
}

/* A hard link, only to a name inside the copy (cleaned and mapped like an entry name). */
static int create_hardlink(struct extract *x, int dirfd, const char *leaf, const struct tar_entry *e) {
  if (clean_name(x, e->linkname, x->target, "hard link to") < 0 || map_name(x, x->target, true) < 0) return -1;
  if (!x->target[0]) return files_fail(x->res, FILES_REFUSED, "refusing a hard link to the destination itself");
  size_t tparent;
  const char *tleaf = find_leaf(x->target, &tparent);
  int tdir = extract_walk(x, x->base, x->target, tparent, false, e->linkname);
  if (tdir < 0) return -1;
  struct stat st;
  int rc = 0;
  if (fstatat(tdir, tleaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    rc = errno == ENOENT ? files_fail(x->res, FILES_MISSING, "hard link target \"%s\" does not exist", e->linkname)
                         : files_fail_errno(x->res, "stat \"%s\"", e->linkname);
  else if (S_ISDIR(st.st_mode))
    rc = files_fail(x->res, FILES_REFUSED, "refusing a hard link to directory \"%s\"", e->linkname);
  if (rc == 0) rc = make_room(x, dirfd, leaf, x->name);
  /* linkat without AT_SYMLINK_FOLLOW links a symlink itself, never what it points to. */
  if (rc == 0 && linkat(tdir, tleaf, dirfd, leaf, 0) < 0) rc = files_fail_errno(x->res, "link \"%s\"", x->name);
  close(tdir);
  return rc;
}

static int remember_dir(struct extract *x, const char *name, const struct tar_entry *e) {
  if (x->ndirs == x->dirs_cap) {
    size_t cap = x->dirs_cap ? x->dirs_cap * 2 : 64;
    struct dir_meta *dirs = realloc(x->dirs, cap * sizeof *dirs);
    if (!dirs) return files_fail(x->res, FILES_FAILED, "out of memory");
    x->dirs = dirs;
    x->dirs_cap = cap;
  }
  char *copy = strdup(name);
  if (!copy) return files_fail(x->res, FILES_FAILED, "out of memory");
  x->dirs[x->ndirs++] = (struct dir_meta){copy, e->mode, e->mtime};
  return 0;
}

/* A directory: created or merged into an existing one (or the one an existing symlink of
 * the box points to); mode and mtime wait for the end, when its contents are written. */
static int create_dir(struct extract *x, int dirfd, const char *leaf, const struct tar_entry *e) {
  x->hops = 0;
  int fd = step(x, dirfd, leaf, true, x->name);
  if (fd < 0) return -1;
  int rc = set_owner(x, fchown(fd, e->uid, e->gid), x->name);
  close(fd);
  return rc < 0 ? -1 : remember_dir(x, x->name, e);
}

static bool is_supported(char type) {
  return type == TAR_FILE || type == TAR_CONTIGUOUS || type == TAR_HARDLINK || type == TAR_SYMLINK ||
         type == TAR_CHAR || type == TAR_BLOCKDEV || type == TAR_DIR || type == TAR_FIFO;
}

int extract_entry(struct extract *x, const struct tar_entry *e, struct tar_reader *r) {
  if (!is_supported(e->type))
    return files_fail(x->res, FILES_FAILED, "unsupported entry type '%c' (\"%s\")", e->type, e->name);
  if (clean_name(x, e->name, x->name, "entry") < 0 || map_name(x, x->name, false) < 0) return -1;
  if (!x->name[0]) return 0; /* "." or "./": the destination itself */
  size_t parent_len;
  const char *leaf = find_leaf(x->name, &parent_len);
  int dirfd = extract_walk(x, x->base, x->name, parent_len, true, x->name);
  if (dirfd < 0) return -1;
  int rc;
  if (e->type == TAR_DIR) rc = create_dir(x, dirfd, leaf, e);
  else if (e->type == TAR_HARDLINK) rc = create_hardlink(x, dirfd, leaf, e);
  else if (make_room(x, dirfd, leaf, x->name) < 0) rc = -1;
  else if (e->type == TAR_SYMLINK) rc = create_symlink(x, dirfd, leaf, e);
  else if (e->type == TAR_FILE || e->type == TAR_CONTIGUOUS) rc = create_file(x, dirfd, leaf, e, r);
  else rc = create_node(x, dirfd, leaf, e);
  close(dirfd);
  return rc;
}

int extract_finish(struct extract *x) {
  /* Last first: children before their parents, so a parent made read-only comes last. */
  for (size_t i = x->ndirs; i-- > 0;) {
    const struct dir_meta *d = &x->dirs[i];
    const struct timespec times[2] = {{0, UTIME_OMIT}, {d->mtime, 0}};
    int fd = extract_walk(x, x->base, d->name, strlen(d->name), false, d->name);
    if (fd < 0) return -1;
    int rc = 0;
    if (fchmod(fd, d->mode) < 0) rc = files_fail_errno(x->res, "chmod \"%s\"", d->name);
    else if (futimens(fd, times) < 0) rc = files_fail_errno(x->res, "set the mtime of \"%s\"", d->name);
    close(fd);
    if (rc < 0) return -1;
  }
  return 0;
}

void extract_free(struct extract *x) {
  for (size_t i = 0; i < x->ndirs; i++) free(x->dirs[i].name);
  free(x->dirs);
  inode_map_free(&x->created);
  if (x->base >= 0) close(x->base);
}
