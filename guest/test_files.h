/*
 * Helpers for the copy tests: temporary roots (each one stands for a container's "/"),
 * trees to copy, tars built entry by entry, and tree comparison.
 */
#ifndef BOXLITE_TEST_FILES_H
#define BOXLITE_TEST_FILES_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "tar.h"
#include "test.h"

struct root {
  char path[64];
  int fd;
};

static inline void root_make(struct root *r) {
  snprintf(r->path, sizeof r->path, "/tmp/boxlite-files-XXXXXX");
  CHECK(mkdtemp(r->path) != NULL);
  r->fd = open(r->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  CHECK(r->fd >= 0);
}

static inline int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path) < 0 ? -1 : 0;
}

static inline void root_remove(struct root *r) {
  close(r->fd);
  CHECK(nftw(r->path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0);
}

/* mkdir -p of rel's parents (mode 0755). */
static inline void make_parents(int dirfd, const char *rel) {
  char buf[8192];
  snprintf(buf, sizeof buf, "%s", rel);
  for (char *p = buf; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    CHECK(mkdirat(dirfd, buf, 0755) == 0 || errno == EEXIST);
    *p = '/';
  }
}

static inline void put_file(int dirfd, const char *rel, const void *data, size_t len, mode_t mode) {
  make_parents(dirfd, rel);
  int fd = openat(dirfd, rel, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  CHECK(fd >= 0);
  if (fd < 0) return;
  CHECK(len == 0 || write(fd, data, len) == (ssize_t)len);
  CHECK(fchmod(fd, mode) == 0);
  close(fd);
}

static inline void put_text(int dirfd, const char *rel, const char *text) {
  put_file(dirfd, rel, text, strlen(text), 0644);
}

static inline void put_dir(int dirfd, const char *rel, mode_t mode) {
  make_parents(dirfd, rel);
  CHECK(mkdirat(dirfd, rel, 0700) == 0 || errno == EEXIST);
  CHECK(fchmodat(dirfd, rel, mode, 0) == 0);
}

static inline void put_symlink(int dirfd, const char *rel, const char *target) {
  make_parents(dirfd, rel);
  CHECK(symlinkat(target, dirfd, rel) == 0);
}

static inline void set_mtime(int dirfd, const char *rel, time_t t) {
  const struct timespec times[2] = {{t, 0}, {t, 0}};
  CHECK(utimensat(dirfd, rel, times, AT_SYMLINK_NOFOLLOW) == 0);
}

static inline bool exists(int dirfd, const char *rel) {
  struct stat st;
  return fstatat(dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* The whole content of a regular file (malloc'd, NUL-terminated), or NULL. */
static inline char *read_file(int dirfd, const char *rel, size_t *len) {
  int fd = openat(dirfd, rel, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return NULL;
  struct stat st;
  fstat(fd, &st);
  char *buf = malloc((size_t)st.st_size + 1);
  size_t got = 0;
  ssize_t n;
  while (got < (size_t)st.st_size && (n = read(fd, buf + got, (size_t)st.st_size - got)) > 0) got += (size_t)n;
  buf[got] = '\0';
  close(fd);
  if (len) *len = got;
  return buf;
}

static inline bool text_is(int dirfd, const char *rel, const char *want) {
  char *got = read_file(dirfd, rel, NULL);
  bool same = got && strcmp(got, want) == 0;
  free(got);
  return same;
}

/* A memfd holding the tar FILES_OUT makes of path, rewound; the result in res. */
static inline int tar_of(int rootfd, const char *path, bool include_parent, bool follow, struct files_result *res) {
  int fd = memfd_create("tar", MFD_CLOEXEC);
  CHECK(fd >= 0);
  struct files_spec spec = {.path = path, .include_parent = include_parent, .follow_symlinks = follow};
  files_out(rootfd, &spec, fd, res);
  lseek(fd, 0, SEEK_SET);
  return fd;
}

static inline int extract(int rootfd, const char *path, bool contents, bool no_overwrite, int tar,
                          struct files_result *res) {
  struct files_spec spec = {.path = path, .contents = contents, .no_overwrite = no_overwrite};
  lseek(tar, 0, SEEK_SET);
  return files_in(rootfd, &spec, tar, res);
}

/* Builds tars entry by entry, hostile ones included. */
static inline int tar_new(void) { return memfd_create("tar", MFD_CLOEXEC); }

static inline void tar_add(int fd, char type, const char *name, const char *link, const char *data, uint32_t mode) {
  static struct tar_entry e;
  static uint8_t out[TAR_ENCODE_MAX];
  memset(&e, 0, sizeof e);
  e.type = type;
  snprintf(e.name, sizeof e.name, "%s", name);
  snprintf(e.linkname, sizeof e.linkname, "%s", link ? link : "");
  e.size = data ? strlen(data) : 0;
  e.mode = mode;
  e.mtime = 1700000000;
  size_t n = tar_encode(&e, out);
  CHECK(write(fd, out, n) == (ssize_t)n);
  if (!data) return;
  static const uint8_t zeros[TAR_BLOCK];
  CHECK(write(fd, data, e.size) == (ssize_t)e.size);
  if (e.size % TAR_BLOCK) CHECK(write(fd, zeros, TAR_BLOCK - e.size % TAR_BLOCK) > 0);
}

/* A raw extension entry ('x' pax records, 'L' / 'K' GNU long names) before the next one. */
static inline void tar_add_ext(int fd, char type, const char *data, size_t len) {
  static struct tar_entry e;
  static uint8_t out[TAR_ENCODE_MAX];
  static const uint8_t zeros[TAR_BLOCK];
  memset(&e, 0, sizeof e);
  e.type = type;
  snprintf(e.name, sizeof e.name, "././@LongLink");
  e.size = len;
  size_t n = tar_encode(&e, out);
  CHECK(write(fd, out, n) == (ssize_t)n);
  CHECK(write(fd, data, len) == (ssize_t)len);
  if (len % TAR_BLOCK) CHECK(write(fd, zeros, TAR_BLOCK - len % TAR_BLOCK) > 0);
}

static inline void tar_end(int fd) {
  static const uint8_t zeros[2 * TAR_BLOCK];
  CHECK(write(fd, zeros, sizeof zeros) == (ssize_t)sizeof zeros);
  lseek(fd, 0, SEEK_SET);
}

/* The entry names of a tar (pax and GNU long names applied), one a line, into out. */
static inline void tar_names(int fd, char *out, size_t cap) {
  static struct tar_entry e, over;
  uint8_t block[TAR_BLOCK];
  unsigned set = 0;
  size_t len = 0;
  out[0] = '\0';
  lseek(fd, 0, SEEK_SET);
  while (read(fd, block, sizeof block) == (ssize_t)sizeof block) {
    const char *why;
    if (tar_decode(block, &e, &why) != TAR_DECODED_ENTRY) break;
    size_t padded = (size_t)(e.size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK;
    if (e.type == TAR_PAX) {
      char *data = calloc(1, padded + 1);
      CHECK(read(fd, data, padded) == (ssize_t)padded);
      CHECK(tar_parse_pax(data, (size_t)e.size, &over, &set, &why) == 0);
      free(data);
      continue;
    }
    tar_apply(&e, &over, set);
    set = 0;
    if (e.type == TAR_FILE) lseek(fd, (off_t)((e.size + TAR_BLOCK - 1) / TAR_BLOCK * TAR_BLOCK), SEEK_CUR);
    len += (size_t)snprintf(out + len, len < cap ? cap - len : 0, "%s%s", len ? "\n" : "", e.name);
  }
  lseek(fd, 0, SEEK_SET);
}

static inline size_t count_names(int dirfd) {
  DIR *d = fdopendir(dup(dirfd));
  size_t n = 0;
  for (struct dirent *ent; (ent = readdir(d)) != NULL;) n += strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..");
  closedir(d);
  return n;
}

/* Whether the tree at a/pa and b/pb hold the same names, types, modes, owners, mtimes,
 * contents and link targets. */
static inline bool same_tree(int a, const char *pa, int b, const char *pb) {
  struct stat sa, sb;
  if (fstatat(a, pa, &sa, AT_SYMLINK_NOFOLLOW) < 0 || fstatat(b, pb, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
    fprintf(stderr, "same_tree: %s or %s is missing\n", pa, pb);
    return false;
  }
  bool same = (sa.st_mode & S_IFMT) == (sb.st_mode & S_IFMT) && sa.st_mtim.tv_sec == sb.st_mtim.tv_sec &&
              sa.st_uid == sb.st_uid && sa.st_gid == sb.st_gid &&
              (S_ISLNK(sa.st_mode) || (sa.st_mode & 07777) == (sb.st_mode & 07777));
  if (same && S_ISREG(sa.st_mode)) {
    size_t la, lb;
    char *ca = read_file(a, pa, &la), *cb = read_file(b, pb, &lb);
    same = ca && cb && la == lb && memcmp(ca, cb, la) == 0;
    free(ca), free(cb);
  }
  if (same && S_ISLNK(sa.st_mode)) {
    char ta[4096] = "", tb[4096] = "";
    same = readlinkat(a, pa, ta, sizeof ta - 1) > 0 && readlinkat(b, pb, tb, sizeof tb - 1) > 0;
    same = same && strcmp(ta, tb) == 0;
  }
  if (!same) fprintf(stderr, "same_tree: %s and %s differ\n", pa, pb);
  if (!same || !S_ISDIR(sa.st_mode)) return same;
  int da = openat(a, pa, O_RDONLY | O_DIRECTORY), db = openat(b, pb, O_RDONLY | O_DIRECTORY);
  DIR *d = fdopendir(dup(da));
  size_t count_a = 0;
  for (struct dirent *ent; same && (ent = readdir(d)) != NULL;) {
    if (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0) continue;
    count_a++;
    same = same_tree(da, ent->d_name, db, ent->d_name);
  }
  closedir(d);
  size_t count_b = count_names(db);
  close(da), close(db);
  if (same && count_a != count_b) fprintf(stderr, "same_tree: %s has %zu names, %s %zu\n", pa, count_a, pb, count_b);
  return same && count_a == count_b;
}

#endif
