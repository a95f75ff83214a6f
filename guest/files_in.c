/* FILES_IN: where the tar goes (the spec's placement rules), and reading it as a stream. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "files_impl.h"

struct tar_reader {
  int fd;
  size_t off, len;     /* unread bytes are buf[off .. len) */
  uint64_t data_left;  /* data of the current entry not read yet */
  uint64_t pad_left;   /* then its padding to a whole block */
  unsigned set;        /* TAR_SET_* fields of over for the next entry */
  struct files_result *res;
  struct tar_entry over;
  uint8_t buf[FILES_BUF];
};

/* Makes buffered bytes available; an end of input inside the tar is a truncated tar. */
static int fill(struct tar_reader *r) {
  if (r->off < r->len) return 0;
  for (;;) {
    ssize_t n = read(r->fd, r->buf, sizeof r->buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return files_fail_errno(r->res, "read the tar");
    if (n == 0) return files_fail(r->res, FILES_FAILED, "the tar is truncated");
    r->off = 0;
    r->len = (size_t)n;
    return 0;
  }
}

static int read_exact(struct tar_reader *r, void *dst, size_t n) {
  uint8_t *p = dst;
  while (n > 0) {
    if (fill(r) < 0) return -1;
    size_t chunk = r->len - r->off < n ? r->len - r->off : n;
    memcpy(p, r->buf + r->off, chunk);
    r->off += chunk;
    p += chunk;
    n -= chunk;
  }
  return 0;
}

static int skip(struct tar_reader *r, uint64_t n) {
  while (n > 0) {
    if (fill(r) < 0) return -1;
    size_t chunk = r->len - r->off < n ? r->len - r->off : (size_t)n;
    r->off += chunk;
    n -= chunk;
  }
  return 0;
}

ssize_t tar_reader_data(struct tar_reader *r, const uint8_t **chunk) {
  if (r->data_left == 0) return 0;
  if (fill(r) < 0) return -1;
  size_t n = r->len - r->off < r->data_left ? r->len - r->off : (size_t)r->data_left;
  *chunk = r->buf + r->off;
  r->off += n;
  r->data_left -= n;
  return (ssize_t)n;
}

static void start_data(struct tar_reader *r, uint64_t size) {
  r->data_left = size;
  r->pad_left = (TAR_BLOCK - size % TAR_BLOCK) % TAR_BLOCK;
}

/* The data of a pax header or GNU long name, read whole (it is bounded by TAR_PAX_MAX). */
static char *read_meta(struct tar_reader *r, const struct tar_entry *e) {
  if (e->size > TAR_PAX_MAX) {
    files_fail(r->res, FILES_FAILED, "the tar has a '%c' header of %llu bytes (the limit is %u)", e->type,
               (unsigned long long)e->size, TAR_PAX_MAX);
    return NULL;
  }
  char *data = malloc((size_t)e->size + 1);
  if (!data) {
    files_fail(r->res, FILES_FAILED, "out of memory");
    return NULL;
  }
  if (read_exact(r, data, (size_t)e->size) < 0 || skip(r, r->pad_left) < 0) {
    free(data);
    return NULL;
  }
  data[e->size] = '\0';
  r->data_left = r->pad_left = 0;
  return data;
}

/* pax 'x' and GNU 'L'/'K' describe the next entry; a global 'g' header is ignored. */
static int read_extension(struct tar_reader *r, const struct tar_entry *e) {
  char *data = read_meta(r, e);
  if (!data) return -1;
  int rc = 0;
  const char *why = NULL;
  if (e->type == TAR_PAX) {
    rc = tar_parse_pax(data, (size_t)e->size, &r->over, &r->set, &why);
  } else if (e->type == TAR_GNU_LONGNAME || e->type == TAR_GNU_LONGLINK) {
    size_t n = strlen(data); /* the name ends at its NUL */
    bool name = e->type == TAR_GNU_LONGNAME;
    if (n > TAR_NAME_MAX) rc = -1, why = "GNU long name too long";
    else memcpy(name ? r->over.name : r->over.linkname, data, n + 1);
    if (rc == 0) r->set |= name ? TAR_SET_NAME : TAR_SET_LINKNAME;
  }
  free(data);
  return rc < 0 ? files_fail(r->res, FILES_FAILED, "corrupt tar: %s", why) : 0;
}

static bool has_data(char type) { return type == TAR_FILE || type == TAR_CONTIGUOUS; }

/* The next entry: 1, or 0 at the end-of-archive block, or -1. Skips what the last one left. */
static int read_entry(struct tar_reader *r, struct tar_entry *e) {
  if (skip(r, r->data_left + r->pad_left) < 0) return -1;
  r->data_left = r->pad_left = 0;
  for (;;) {
    uint8_t block[TAR_BLOCK];
    const char *why;
    if (read_exact(r, block, sizeof block) < 0) return -1;
    int rc = tar_decode(block, e, &why);
    if (rc < 0) return files_fail(r->res, FILES_FAILED, "corrupt tar: %s", why);
    if (rc == TAR_DECODED_END) return 0;
    start_data(r, e->size);
    bool extension = e->type == TAR_PAX || e->type == TAR_PAX_GLOBAL || e->type == TAR_GNU_LONGNAME ||
                     e->type == TAR_GNU_LONGLINK;
    if (!extension) {
      tar_apply(e, &r->over, r->set);
      r->set = 0;
      /* Links, directories, devices and fifos have no data, whatever their size says. */
      start_data(r, has_data(e->type) ? e->size : 0);
      return 1;
    }
    if (read_extension(r, e) < 0) return -1;
  }
}

/* What is at spec->path: a directory (opened), nothing, or something else. */
enum target { TARGET_DIR, TARGET_MISSING, TARGET_OTHER };

/* Looks at leaf in dirfd; a symlink counts as the directory it leads to, if it does. */
static int probe(struct extract *x, int dirfd, const char *leaf, const char *path, int *fd) {
  struct stat st;
  if (!leaf[0]) { /* the path is "/" */
    *fd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    return *fd < 0 ? files_fail_errno(x->res, "dup") : TARGET_DIR;
  }
  bool dots = strcmp(leaf, ".") == 0 || strcmp(leaf, "..") == 0;
  if (!dots && fstatat(dirfd, leaf, &st, AT_SYMLINK_NOFOLLOW) < 0)
    return errno == ENOENT ? TARGET_MISSING : files_fail_errno(x->res, "stat %s", path);
  if (!dots && !S_ISDIR(st.st_mode) && !S_ISLNK(st.st_mode)) return TARGET_OTHER;
  struct files_result *res = x->res, scratch = {0};
  x->res = &scratch;
  *fd = extract_walk(x, dirfd, leaf, strlen(leaf), false, path);
  x->res = res;
  if (*fd >= 0) return TARGET_DIR;
  /* A dangling symlink or one to a non-directory is replaced like a file. */
  if (scratch.code == FILES_MISSING || scratch.code == FILES_REFUSED) return TARGET_OTHER;
  return files_fail(res, scratch.code, "%s", scratch.error);
}

/* contents: true: into path, created (not its parents) when missing. */
static int place_contents(struct extract *x, const char *path, int parent, const char *leaf, int what, int fd) {
  if (what == TARGET_OTHER)
    files_fail(x->res, FILES_REFUSED, "cannot extract a directory's contents into %s: not a directory", path);
  else if (what == TARGET_MISSING && mkdirat(parent, leaf, 0755) < 0)
    files_fail_errno(x->res, "mkdir %s", path);
  else if (what == TARGET_MISSING)
    fd = extract_walk(x, parent, leaf, strlen(leaf), false, path);
  close(parent);
  x->base = fd;
  return fd < 0 ? -1 : 0;
}

/* What is at spec->path: *parent is its parent directory (opened), leaf its last name, and
 * *fd the directory itself when it is one. Returns enum target, or -1. */
static int locate(struct extract *x, const struct files_spec *spec, char *leaf, size_t leaf_cap, int *parent, int *fd) {
  const char *rel = spec->path;
  while (*rel == '/') rel++;
  if (files_basename(rel, leaf, leaf_cap) < 0)
    return files_fail(x->res, FILES_FAILED, "name too long: %s", spec->path);
  size_t parent_len = strlen(rel);
  while (parent_len > 0 && rel[parent_len - 1] == '/') parent_len--;
  parent_len -= strlen(leaf);
  *parent = extract_walk(x, x->root, rel, parent_len, false, spec->path);
  if (*parent < 0 && x->res->code == FILES_REFUSED) x->res->code = FILES_MISSING; /* a file on the way */
  if (*parent < 0) return -1;
  *fd = -1;
  int what = probe(x, *parent, leaf, spec->path, fd);
  if (what < 0) close(*parent);
  return what;
}

/* contents: false puts T into path when it is a directory, else into its parent under the
 * name basename(path) (where a file T replaces a file, and a directory T is refused). */
static int place(struct extract *x, const struct files_spec *spec, char *leaf, size_t leaf_cap) {
  int parent, fd;
  int what = locate(x, spec, leaf, leaf_cap, &parent, &fd);
  if (what < 0) return -1;
  if (spec->contents) return place_contents(x, spec->path, parent, leaf, what, fd);
  x->single_top = true;
  if (what == TARGET_DIR) {
    close(parent);
    x->base = fd;
    return 0;
  }
  x->base = parent;
  x->rename = leaf;
  return 0;
}

static int extract_rest(struct extract *x, struct tar_reader *r, struct tar_entry *e) {
  int rc;
  while ((rc = read_entry(r, e)) > 0)
    if ((rc = extract_entry(x, e, r)) < 0) break;
  return rc < 0 ? -1 : extract_finish(x);
}

static int extract_all(struct extract *x, struct tar_reader *r) {
  struct tar_entry *e = malloc(sizeof *e);
  if (!e) return files_fail(x->res, FILES_FAILED, "out of memory");
  int rc = extract_rest(x, r, e);
  free(e);
  return rc;
}

/* A top-level entry that is not a directory: its name, without "./", holds no "/". */
static bool is_single_name(const struct tar_entry *e, const char **name) {
  const char *n = e->name;
  while (n[0] == '.' && n[1] == '/') n += 2;
  *name = n;
  return e->type != TAR_DIR && e->type != TAR_HARDLINK && n[0] && !strchr(n, '/') && strcmp(n, "..") != 0;
}

/* as_file, once the first entry is a single non-directory T, written in path's parent under
 * `tmp`: the next header decides. The tar's end: T becomes path. More entries: path becomes a
 * directory (created when missing) holding T, and the rest is extracted into it. */
static int finish_as_file(struct extract *x, struct tar_reader *r, struct tar_entry *e, const char *path,
                          int parent, const char *leaf, int what, const char *tmp, const char *name) {
  int rc = read_entry(r, e);
  if (rc == 0) {
    if (renameat(parent, tmp, parent, leaf) < 0) rc = files_fail_errno(x->res, "rename to %s", path);
    return rc < 0 ? -1 : extract_finish(x);
  }
  if (rc < 0) return -1;
  if (what == TARGET_OTHER)
    return files_fail(x->res, FILES_REFUSED, "cannot extract several entries into %s: not a directory", path);
  int fd = -1;
  if (mkdirat(parent, leaf, 0755) < 0) return files_fail_errno(x->res, "mkdir %s", path);
  fd = extract_walk(x, parent, leaf, strlen(leaf), false, path);
  if (fd < 0) return -1;
  if (renameat(parent, tmp, fd, name) < 0) {
    close(fd);
    return files_fail_errno(x->res, "move %s into %s", name, path);
  }
  close(x->base);
  x->base = fd;
  x->single_top = false;
  x->rename = NULL;
  x->top[0] = '\0';
  if (extract_entry(x, e, r) < 0) return -1;
  return extract_rest(x, r, e);
}

/* as_file: path is written as the tar's one file when it holds exactly one top-level
 * non-directory and path is not a directory; otherwise the tar is extracted into path as
 * with contents (the reference's rule for an upload, and cp's). */
static int extract_as_file(struct extract *x, const struct files_spec *spec, struct tar_reader *r, char *leaf,
                           size_t leaf_cap) {
  int parent, fd;
  int what = locate(x, spec, leaf, leaf_cap, &parent, &fd);
  if (what < 0) return -1;
  struct tar_entry *e = malloc(sizeof *e);
  /* 1: e holds the first entry; 0: the tar is empty; -1: failed. Into a directory nothing is read first. */
  int rc = !e ? files_fail(x->res, FILES_FAILED, "out of memory") : what == TARGET_DIR ? 1 : read_entry(r, e);
  bool first = what != TARGET_DIR && rc > 0;
  const char *name = NULL;
  if (first && is_single_name(e, &name) && strlen(name) < sizeof x->top) {
    char tmp[64], saved[sizeof x->top];
    snprintf(tmp, sizeof tmp, ".boxlite-upload-%ld-%ld", (long)getpid(), (long)time(NULL));
    memcpy(saved, name, strlen(name) + 1);
    x->base = parent;
    if (what == TARGET_OTHER && x->no_overwrite)
      rc = files_fail(x->res, FILES_REFUSED, "refusing to replace \"%s\" (no_overwrite)", spec->path);
    x->single_top = true;
    x->rename = tmp;
    if (rc >= 0) rc = extract_entry(x, e, r);
    if (rc >= 0) rc = finish_as_file(x, r, e, spec->path, parent, leaf, what, tmp, saved);
    /* What is left of T under its temporary name when anything failed. */
    if (rc < 0) unlinkat(parent, tmp, 0);
    x->rename = NULL;
  } else if (rc < 0) {
    close(parent);
    if (fd >= 0) close(fd);
  } else if (place_contents(x, spec->path, parent, leaf, what, fd) < 0) {
    rc = -1;
  } else if (first) {
    rc = extract_entry(x, e, r) < 0 ? -1 : extract_rest(x, r, e);
  } else {
    rc = rc == 0 ? extract_finish(x) : extract_rest(x, r, e);
  }
  free(e);
  return rc;
}

int files_in(int rootfd, const struct files_spec *spec, int in_fd, struct files_result *res) {
  memset(res, 0, sizeof *res);
  struct extract *x = calloc(1, sizeof *x);
  struct tar_reader *r = calloc(1, sizeof *r);
  struct stat root;
  char leaf[256];
  if (!x || !r) {
    files_fail(res, FILES_FAILED, "out of memory");
  } else if (fstat(rootfd, &root) < 0) {
    files_fail_errno(res, "stat the root");
  } else {
    x->root = rootfd;
    x->root_dev = root.st_dev;
    x->root_ino = root.st_ino;
    x->base = -1;
    x->no_overwrite = spec->no_overwrite;
    x->chown_required = geteuid() == 0;
    x->res = res;
    r->fd = in_fd;
    r->res = res;
    if (spec->as_file) extract_as_file(x, spec, r, leaf, sizeof leaf);
    else if (place(x, spec, leaf, sizeof leaf) == 0) extract_all(x, r);
    extract_free(x);
  }
  free(x);
  free(r);
  return res->code;
}
