/*
 * FILES_OUT then FILES_IN (docs/guest-protocol.md, "Copying files") on temporary roots:
 * round trips of a tree with every kind of entry, entry names with and without the parent,
 * and GNU tar as an oracle both ways. The placement rules and hostile tars are in
 * test_files_in.c.
 */
#include <stdarg.h>
#include <sys/wait.h>

#include "test_files.h"

#define BIG_SIZE (5u << 20)

static bool as_root;

static void stamp(int dirfd, const char *rel, time_t *clock) { set_mtime(dirfd, rel, (*clock)++); }

static char *repeat(char c, size_t n) {
  static char buf[4][512];
  static int next;
  char *s = buf[next++ % 4];
  memset(s, c, n);
  s[n] = '\0';
  return s;
}

/* src: nested directories, an empty file, names over 100 and paths over 255 bytes, symlinks
 * (one to a target over 100 bytes), hard links, setuid, a fifo, 5 MiB, odd owners and times. */
static void make_tree(int root) {
  char path[1024];
  put_dir(root, "src", 0750);
  put_file(root, "src/empty", "", 0, 0600);
  put_text(root, "src/nested/deeper/leaf.txt", "leaf\n");
  put_dir(root, "src/nested", 0700);
  snprintf(path, sizeof path, "src/%s", repeat('n', 150));
  put_text(root, path, "a long name\n");
  snprintf(path, sizeof path, "src/%s/%s/%s.txt", repeat('a', 100), repeat('b', 100), repeat('c', 100));
  put_text(root, path, "a long path\n");
  put_symlink(root, "src/link", "nested/deeper/leaf.txt");
  put_symlink(root, "src/abs", "/etc/passwd");
  put_symlink(root, "src/longlink", repeat('t', 200));
  put_text(root, "src/hard1", "shared inode\n");
  CHECK(linkat(root, "src/hard1", root, "src/nested/hard2", 0) == 0);
  put_text(root, "src/suid", "#!/bin/sh\n");
  CHECK(fchmodat(root, "src/suid", 04755, 0) == 0);
  put_text(root, "src/sgid-sticky", "x");
  CHECK(fchmodat(root, "src/sgid-sticky", 03711, 0) == 0);
  CHECK(mkfifoat(root, "src/fifo", 0640) == 0);
  CHECK(fchmodat(root, "src/fifo", 0640, 0) == 0);
  uint8_t *big = malloc(BIG_SIZE);
  for (size_t i = 0; i < BIG_SIZE; i++) big[i] = (uint8_t)(i * 31 + i / 4099);
  put_file(root, "src/big", big, BIG_SIZE, 0644);
  free(big);
  if (as_root) {
    CHECK(fchownat(root, "src/nested/deeper/leaf.txt", 1234, 5678, 0) == 0);
    CHECK(fchownat(root, "src/nested", 4321, 8765, 0) == 0);
    CHECK(fchownat(root, "src/link", 42, 43, AT_SYMLINK_NOFOLLOW) == 0);
    CHECK(fchownat(root, "src/big", 3000000, 3000001, 0) == 0); /* beyond ustar's 7 octal digits */
    CHECK(fchmodat(root, "src/suid", 04755, 0) == 0);           /* chown cleared nothing here, but be sure */
  }
  time_t clock = 1600000000;
  static const char *const leaves[] = {"src/empty", "src/link", "src/abs", "src/longlink", "src/hard1", "src/suid",
                                       "src/sgid-sticky", "src/fifo", "src/big", "src/nested/deeper/leaf.txt"};
  for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++) stamp(root, leaves[i], &clock);
  snprintf(path, sizeof path, "src/%s", repeat('n', 150));
  stamp(root, path, &clock);
  snprintf(path, sizeof path, "src/%s/%s/%s.txt", repeat('a', 100), repeat('b', 100), repeat('c', 100));
  stamp(root, path, &clock);
  set_mtime(root, "src/empty", -86400);     /* before the epoch: a pax mtime */
  set_mtime(root, "src/hard1", 9000000000); /* past ustar's 11 octal digits */
  stamp(root, "src/nested/deeper", &clock);
  stamp(root, "src/nested", &clock);
  snprintf(path, sizeof path, "src/%s/%s", repeat('a', 100), repeat('b', 100));
  stamp(root, path, &clock);
  snprintf(path, sizeof path, "src/%s", repeat('a', 100));
  stamp(root, path, &clock);
  stamp(root, "src", &clock);
}

static bool same_inode(int dirfd, const char *a, const char *b) {
  struct stat sa, sb;
  return fstatat(dirfd, a, &sa, AT_SYMLINK_NOFOLLOW) == 0 && fstatat(dirfd, b, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
         sa.st_ino == sb.st_ino && sa.st_dev == sb.st_dev;
}

static int run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int run(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  int status = system(cmd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_round_trip_keeps_every_kind_of_entry(void) {
  struct root a, b;
  struct files_result res;
  root_make(&a);
  root_make(&b);
  make_tree(a.fd);
  int tar = tar_of(a.fd, "/src", true, false, &res);
  CHECK(res.code == FILES_OK && res.error[0] == '\0');
  /* Into a missing path: the tree arrives renamed. */
  CHECK(extract(b.fd, "/dst", false, false, tar, &res) == FILES_OK);
  if (res.code) fprintf(stderr, "extract: %s\n", res.error);
  CHECK(same_tree(a.fd, "src", b.fd, "dst"));
  CHECK(same_inode(b.fd, "dst/hard1", "dst/nested/hard2"));
  /* Into an existing directory: under its own name. */
  CHECK(extract(b.fd, "/", false, false, tar, &res) == FILES_OK);
  CHECK(same_tree(a.fd, "src", b.fd, "src"));
  CHECK(same_inode(b.fd, "src/hard1", "src/nested/hard2") && !same_inode(b.fd, "src/hard1", "dst/hard1"));
  /* Again onto itself: files are replaced, directories merged, nothing else changes. */
  CHECK(extract(b.fd, "/", false, false, tar, &res) == FILES_OK);
  CHECK(same_tree(a.fd, "src", b.fd, "src"));
  close(tar);
  /* The contents of a directory, without the parent, into another one. */
  tar = tar_of(a.fd, "/src", false, false, &res);
  CHECK(res.code == FILES_OK);
  CHECK(extract(b.fd, "/contents", true, false, tar, &res) == FILES_OK);
  CHECK(same_inode(b.fd, "contents/hard1", "contents/nested/hard2"));
  CHECK(text_is(b.fd, "contents/nested/deeper/leaf.txt", "leaf\n") && exists(b.fd, "contents/big"));
  close(tar);
  root_remove(&a);
  root_remove(&b);
}

static void sort_lines(char *text) {
  char *lines[256];
  size_t n = 0;
  for (char *p = strtok(text, "\n"); p && n < 256; p = strtok(NULL, "\n")) lines[n++] = strdup(p);
  for (size_t i = 1; i < n; i++)
    for (size_t j = i; j > 0 && strcmp(lines[j - 1], lines[j]) > 0; j--) {
      char *t = lines[j];
      lines[j] = lines[j - 1], lines[j - 1] = t;
    }
  text[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    if (i) strcat(text, "\n");
    strcat(text, lines[i]);
    free(lines[i]);
  }
}

/* The sorted entry names of FILES_OUT's tar of path, or the error. */
static const char *names_of(int rootfd, const char *path, bool include_parent, bool follow) {
  static char names[8192];
  struct files_result res;
  int tar = tar_of(rootfd, path, include_parent, follow, &res);
  if (res.code != FILES_OK) snprintf(names, sizeof names, "code %d: %s", res.code, res.error);
  else tar_names(tar, names, sizeof names), sort_lines(names);
  close(tar);
  return names;
}

static void test_entry_names(void) {
  struct root r;
  root_make(&r);
  put_text(r.fd, "dir/a.txt", "a");
  put_text(r.fd, "dir/sub/b.txt", "b");
  put_text(r.fd, "file.txt", "f");
  put_symlink(r.fd, "lnk", "dir");
  put_symlink(r.fd, "dir/sub/up", "..");
  CHECK_STR(names_of(r.fd, "/dir", true, false), "dir/\ndir/a.txt\ndir/sub/\ndir/sub/b.txt\ndir/sub/up");
  CHECK_STR(names_of(r.fd, "/dir/", true, false), "dir/\ndir/a.txt\ndir/sub/\ndir/sub/b.txt\ndir/sub/up");
  CHECK_STR(names_of(r.fd, "/dir", false, false), "a.txt\nsub/\nsub/b.txt\nsub/up");
  CHECK_STR(names_of(r.fd, "/dir/.", true, false), "a.txt\nsub/\nsub/b.txt\nsub/up");
  CHECK_STR(names_of(r.fd, "/dir/sub", true, false), "sub/\nsub/b.txt\nsub/up");
  /* A file is named by its basename either way. */
  CHECK_STR(names_of(r.fd, "/file.txt", true, false), "file.txt");
  CHECK_STR(names_of(r.fd, "/file.txt", false, false), "file.txt");
  CHECK_STR(names_of(r.fd, "/dir/a.txt", false, false), "a.txt");
  /* follow_symlinks is for the top path only; links inside stay links. */
  CHECK_STR(names_of(r.fd, "/lnk", true, false), "lnk");
  CHECK_STR(names_of(r.fd, "/lnk", true, true), "lnk/\nlnk/a.txt\nlnk/sub/\nlnk/sub/b.txt\nlnk/sub/up");
  CHECK_STR(names_of(r.fd, "/lnk", false, true), "a.txt\nsub/\nsub/b.txt\nsub/up");
  /* "/" has no name of its own. */
  CHECK_STR(names_of(r.fd, "/", true, false),
            "dir/\ndir/a.txt\ndir/sub/\ndir/sub/b.txt\ndir/sub/up\nfile.txt\nlnk");
  /* A missing source is code 2, and the error says which. */
  CHECK_STR(names_of(r.fd, "/nope", true, false), "code 2: /nope does not exist");
  CHECK_STR(names_of(r.fd, "/file.txt/x", true, false), "code 2: /file.txt/x does not exist");
  CHECK_STR(names_of(r.fd, "/dir/nope", true, true), "code 2: /dir/nope does not exist");
  put_symlink(r.fd, "dangling", "nope");
  CHECK_STR(names_of(r.fd, "/dangling", true, true), "code 2: /dangling does not exist");
  CHECK_STR(names_of(r.fd, "/dangling", true, false), "dangling");
  root_remove(&r);
}

static void test_empty_directory_and_empty_tar(void) {
  struct root r;
  struct files_result res;
  root_make(&r);
  put_dir(r.fd, "empty", 0755);
  int tar = tar_of(r.fd, "/empty", false, false, &res);
  CHECK(res.code == FILES_OK && lseek(tar, 0, SEEK_END) == 2 * TAR_BLOCK); /* only the end blocks */
  /* An empty tar extracts nothing, and is no error. */
  CHECK(extract(r.fd, "/new", false, false, tar, &res) == FILES_OK && !exists(r.fd, "new"));
  CHECK(extract(r.fd, "/made", true, false, tar, &res) == FILES_OK && exists(r.fd, "made"));
  close(tar);
  root_remove(&r);
}

/* GNU tar reads what FILES_OUT writes, and FILES_IN reads what GNU tar writes. */
static void test_gnu_tar_agrees(void) {
  if (run("tar --version >/dev/null 2>&1") != 0) {
    printf("test_files: GNU tar not found, oracle test skipped\n");
    return;
  }
  struct root a, b;
  struct files_result res;
  root_make(&a);
  root_make(&b);
  make_tree(a.fd);
  int tar = tar_of(a.fd, "/src", true, false, &res);
  CHECK(res.code == FILES_OK);
  /* --compare checks each member's type, mode, owner, mtime, size, data and link target. */
  CHECK(run("tar --compare --numeric-owner -f /proc/%d/fd/%d -C %s 2>/dev/null", getpid(), tar, a.path) == 0);
  CHECK(run("tar -xpf /proc/%d/fd/%d -C %s --numeric-owner 2>/dev/null", getpid(), tar, b.path) == 0);
  CHECK(same_tree(a.fd, "src", b.fd, "src"));
  close(tar);
  static const char *const formats[] = {"gnu", "pax", "posix"};
  for (size_t i = 0; i < 3; i++) {
    char made[160];
    snprintf(made, sizeof made, "%s/%s.tar", b.path, formats[i]);
    CHECK(run("tar --format=%s -cf %s -C %s src 2>/dev/null", formats[i], made, a.path) == 0);
    tar = open(made, O_RDONLY | O_CLOEXEC);
    snprintf(made, sizeof made, "/from-%s", formats[i]);
    CHECK(extract(b.fd, made, false, false, tar, &res) == FILES_OK);
    if (res.code) fprintf(stderr, "%s: %s\n", formats[i], res.error);
    CHECK(same_tree(a.fd, "src", b.fd, made + 1));
    snprintf(made, sizeof made, "from-%s/hard1", formats[i]);
    char other[160];
    snprintf(other, sizeof other, "from-%s/nested/hard2", formats[i]);
    CHECK(same_inode(b.fd, made, other));
    close(tar);
  }
  root_remove(&a);
  root_remove(&b);
}

int main(void) {
  as_root = geteuid() == 0;
  umask(022);
  test_round_trip_keeps_every_kind_of_entry();
  test_entry_names();
  test_empty_directory_and_empty_tar();
  test_gnu_tar_agrees();
  return test_finish("test_files");
}
