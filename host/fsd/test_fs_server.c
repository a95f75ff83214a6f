/*
 * The FUSE half driven with requests built by hand, on a real directory: the confinement rules,
 * read-only and single-file shares, and a fuzz loop of malformed requests (under ASan/UBSan)
 * that must only ever get error replies and never touch anything outside the share.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "test_requests.h"

#define ALLOW_IDMAP_BIT2 (1u << 8) /* FUSE_ALLOW_IDMAP in flags2 */

static struct fs_server *server_at(const char *root, bool read_only, const char *only) {
  char why[256];
  struct fs_server *s = fs_server_new(&(struct fs_options){.root = root, .read_only = read_only, .only_name = only}, why, sizeof why);
  CHECK(s != NULL);
  if (s) init(s, FUSE_ASYNC_READ, 0);
  return s;
}

static void test_init(const char *root) {
  struct fs_server *s = fs_server_new(&(struct fs_options){.root = root}, (char[64]){0}, 64);
  CHECK(call(s, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == -EIO);
  CHECK((init(s, FUSE_INIT_EXT, ALLOW_IDMAP_BIT2) & ALLOW_IDMAP_BIT2) != 0);
  CHECK((init(s, 0, ALLOW_IDMAP_BIT2) & ALLOW_IDMAP_BIT2) == 0); /* flags2 only counts with FUSE_INIT_EXT */
  CHECK(call(s, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == 0);
  CHECK(call(s, FUSE_SETXATTR, 1, NULL, 0, NULL, NULL, NULL) == -ENOSYS);
  CHECK(call(s, FUSE_GETLK, 1, NULL, 0, NULL, NULL, NULL) == -ENOSYS);
  static uint8_t big[32768]; /* more than the server copies of a request */
  struct fuse_in_header *h = (struct fuse_in_header *)big;
  *h = (struct fuse_in_header){.len = sizeof big, .opcode = FUSE_SETXATTR, .nodeid = 1};
  CHECK(send_bytes(s, big, sizeof big, OUT_SIZE, NULL, NULL) == -ENOSYS);
  h->opcode = FUSE_SYMLINK;
  CHECK(send_bytes(s, big, sizeof big, OUT_SIZE, NULL, NULL) == -EINVAL);
  CHECK(call(s, FUSE_INTERRUPT, 0, &(struct fuse_interrupt_in){0}, sizeof(struct fuse_interrupt_in), NULL, NULL, NULL) == 1);
  fs_server_free(s);
}

static void test_names_and_nodeids(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  int e;
  CHECK(lookup(s, 1, "", &e) == 0 && e == -EINVAL);
  CHECK(lookup(s, 1, ".", &e) == 0 && e == -EINVAL);
  CHECK(lookup(s, 1, "..", &e) == 0 && e == -EINVAL);
  CHECK(lookup(s, 1, "dir/inner", &e) == 0 && e == -EINVAL);
  CHECK(lookup(s, 1, "nothing", &e) == 0 && e == -ENOENT);
  static uint8_t buf[128];
  size_t len = build(buf, FUSE_LOOKUP, 1, "file", 4, NULL, NULL); /* no NUL within the request */
  CHECK(send_bytes(s, buf, len, OUT_SIZE, NULL, NULL) == -EINVAL);
  uint64_t file = lookup(s, 1, "file", &e);
  CHECK(e == 0 && file > 1);
  CHECK(lookup(s, 1, "hardlink", &e) == file); /* same host inode, same nodeid */
  CHECK(call(s, FUSE_GETATTR, 0xdeadbeef, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == -ESTALE);
  CHECK(call(s, FUSE_GETATTR, 0, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == -ESTALE);
  /* Two lookups: the nodeid lives until both are forgotten. */
  CHECK(call(s, FUSE_FORGET, file, &(struct fuse_forget_in){.nlookup = 1}, sizeof(struct fuse_forget_in), NULL, NULL, NULL) == 1);
  CHECK(call(s, FUSE_GETATTR, file, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == 0);
  /* As virtio-fs sends it: no buffer for a reply, and none is written. */
  static uint8_t forget[64];
  len = build(forget, FUSE_FORGET, file, &(struct fuse_forget_in){.nlookup = 1}, sizeof(struct fuse_forget_in), NULL, NULL);
  CHECK(fs_server_handle(s, &(struct iovec){forget, len}, 1, NULL, 0) == 0);
  CHECK(call(s, FUSE_GETATTR, file, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == -ESTALE);
  /* The root is never forgotten. */
  CHECK(call(s, FUSE_FORGET, 1, &(struct fuse_forget_in){.nlookup = 99}, sizeof(struct fuse_forget_in), NULL, NULL, NULL) == 1);
  CHECK(call(s, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL) == 0);
  uint64_t fh;
  CHECK(open_node(s, 1234567, O_RDONLY, &fh) == -ESTALE);
  struct fuse_read_in rd = {.fh = 77, .size = 10};
  CHECK(call(s, FUSE_READ, 1, &rd, sizeof rd, NULL, NULL, NULL) == -EBADF);
  fs_server_free(s);
}

/* A regular file's attributes are never cached (a host write is read at once); names, directories and links are for a second. */
/* 10 ms: how stale a host change may look in the box (fs_attr_timeout). */
#define FRESH_NSEC 10000000u

static void test_timeouts(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  const uint8_t *body;
  struct fuse_entry_out entry;
  CHECK(call(s, FUSE_LOOKUP, 1, NULL, 0, "file", NULL, &body) == 0);
  memcpy(&entry, body, sizeof entry);
  CHECK(entry.entry_valid == 1 && entry.attr_valid == 0 && entry.attr_valid_nsec == FRESH_NSEC);
  struct fuse_attr_out attr;
  CHECK(call(s, FUSE_GETATTR, entry.nodeid, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, &body) == 0);
  memcpy(&attr, body, sizeof attr);
  CHECK(attr.attr_valid == 0 && attr.attr_valid_nsec == FRESH_NSEC);
  /* An absent name is nodeid 0, kept as briefly. */
  CHECK(call(s, FUSE_LOOKUP, 1, NULL, 0, "absent", NULL, &body) == 0);
  memcpy(&entry, body, sizeof entry);
  CHECK(entry.nodeid == 0 && entry.entry_valid == 0 && entry.entry_valid_nsec == FRESH_NSEC);
  static const char *const cached[] = {"dir", "etc"};
  for (size_t i = 0; i < sizeof cached / sizeof *cached; i++) {
    CHECK(call(s, FUSE_LOOKUP, 1, NULL, 0, cached[i], NULL, &body) == 0);
    memcpy(&entry, body, sizeof entry);
    CHECK(entry.entry_valid == 1 && entry.attr_valid == 1);
  }
  CHECK(call(s, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, &body) == 0);
  memcpy(&attr, body, sizeof attr);
  CHECK(attr.attr_valid == 1);
  /* What the box has just made or set itself it may trust for the second; its files never flush. */
  struct fuse_create_in create = {.flags = O_RDWR, .mode = S_IFREG | 0644};
  CHECK(call(s, FUSE_CREATE, 1, &create, sizeof create, "made", NULL, &body) == 0);
  struct fuse_open_out opened;
  memcpy(&entry, body, sizeof entry);
  memcpy(&opened, body + sizeof entry, sizeof opened);
  CHECK(entry.attr_valid == 1 && entry.attr_valid_nsec == 0 && (opened.open_flags & FOPEN_NOFLUSH));
  struct fuse_setattr_in set = {.valid = FATTR_MODE, .mode = S_IFREG | 0600};
  CHECK(call(s, FUSE_SETATTR, entry.nodeid, &set, sizeof set, NULL, NULL, &body) == 0);
  memcpy(&attr, body, sizeof attr);
  CHECK(attr.attr_valid == 1);
  CHECK(call(s, FUSE_GETATTR, entry.nodeid, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, &body) == 0);
  memcpy(&attr, body, sizeof attr);
  CHECK(attr.attr_valid == 0 && attr.attr_valid_nsec == FRESH_NSEC);
  CHECK(call(s, FUSE_OPEN, entry.nodeid, &(struct fuse_open_in){.flags = O_RDONLY}, sizeof(struct fuse_open_in), NULL, NULL, &body) == 0);
  memcpy(&opened, body, sizeof opened);
  CHECK(opened.open_flags & FOPEN_NOFLUSH);
  CHECK(call(s, FUSE_UNLINK, 1, NULL, 0, "made", NULL, NULL) == 0);
  fs_server_free(s);
}

/* FUSE_HANDLE_KILLPRIV_V2: fsd drops set-id bits when the guest asks, as the VFS would for a caller without CAP_FSETID. */
static mode_t mode_of(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? st.st_mode & 07777 : 0;
}

static void test_kill_suidgid(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  struct fuse_init_in in = {.major = 7, .minor = 38, .flags = FUSE_HANDLE_KILLPRIV_V2};
  const uint8_t *body;
  CHECK(call(s, FUSE_INIT, 0, &in, sizeof in, NULL, NULL, &body) == 0);
  struct fuse_init_out out;
  memcpy(&out, body, sizeof out);
  CHECK(out.flags & FUSE_HANDLE_KILLPRIV_V2);
  char path[128];
  snprintf(path, sizeof path, "%s/setid", root);
  write_file(path, "x");
  CHECK(chmod(path, 06755) == 0);
  int e;
  uint64_t node = lookup(s, 1, "setid", &e), fh;
  CHECK(e == 0 && open_node(s, node, O_RDWR, &fh) == 0 && mode_of(path) == 06755);
  static uint8_t req[128];
  for (uint32_t flags = 0; flags <= FUSE_WRITE_KILL_SUIDGID; flags += FUSE_WRITE_KILL_SUIDGID) {
    size_t len = build(req, FUSE_WRITE, node, &(struct fuse_write_in){.fh = fh, .size = 1, .write_flags = flags},
                       sizeof(struct fuse_write_in), "y", NULL) - 1; /* the data without its NUL */
    ((struct fuse_in_header *)req)->len = (uint32_t)len;
    CHECK(send_bytes(s, req, len, OUT_SIZE, NULL, NULL) == 0);
    CHECK(mode_of(path) == (flags ? 0755 : 06755)); /* without the flag the guest keeps them */
  }
  CHECK(chmod(path, 06755) == 0);
  struct fuse_open_in open_in = {.flags = O_RDWR | O_TRUNC, .open_flags = FUSE_OPEN_KILL_SUIDGID};
  CHECK(call(s, FUSE_OPEN, node, &open_in, sizeof open_in, NULL, NULL, NULL) == 0 && mode_of(path) == 0755);
  /* Set-group-ID stays on a file its group cannot execute, as on a local disk. */
  CHECK(chmod(path, 06745) == 0);
  struct fuse_setattr_in set = {.valid = FATTR_SIZE | FATTR_KILL_SUIDGID, .size = 0};
  CHECK(call(s, FUSE_SETATTR, node, &set, sizeof set, NULL, NULL, NULL) == 0 && mode_of(path) == 02745);
  CHECK(unlink(path) == 0);
  fs_server_free(s);
}

/* Symlinks are only read, never followed; devices, fifos and symlinks are never opened. */
static void test_confinement(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  int e;
  uint64_t link = lookup(s, 1, "etc", &e); /* a symlink to /etc */
  CHECK(e == 0);
  CHECK(lookup(s, link, "passwd", &e) == 0 && e == -ENOTDIR);
  uint64_t fh;
  CHECK(open_node(s, link, O_RDONLY, &fh) == -ELOOP);
  CHECK(call(s, FUSE_OPENDIR, link, &(struct fuse_open_in){0}, sizeof(struct fuse_open_in), NULL, NULL, NULL) == -ENOTDIR);
  struct fuse_create_in create = {.flags = O_WRONLY, .mode = S_IFREG | 0644};
  CHECK(call(s, FUSE_CREATE, link, &create, sizeof create, "newfile", NULL, NULL) == -ENOTDIR);
  CHECK(call(s, FUSE_CREATE, 1, &create, sizeof create, "etc", NULL, NULL) == -ELOOP); /* not followed to /etc */
  const uint8_t *body;
  CHECK(call(s, FUSE_READLINK, link, NULL, 0, NULL, NULL, &body) == 0 && memcmp(body, "/etc", 4) == 0);
  uint64_t dev = lookup(s, 1, "null", &e);
  CHECK(e == 0 && open_node(s, dev, O_RDWR, &fh) == -EACCES);
  CHECK(call(s, FUSE_CREATE, 1, &create, sizeof create, "null", NULL, NULL) == -EACCES);
  struct fuse_mknod_in chr = {.mode = S_IFCHR | 0666, .rdev = makedev(1, 3)};
  CHECK(call(s, FUSE_MKNOD, 1, &chr, sizeof chr, "dev2", NULL, NULL) == -EPERM);
  struct fuse_mknod_in blk = {.mode = S_IFBLK | 0666, .rdev = makedev(7, 0)};
  CHECK(call(s, FUSE_MKNOD, 1, &blk, sizeof blk, "dev3", NULL, NULL) == -EPERM);
  struct fuse_mknod_in fifo = {.mode = S_IFIFO | 0644};
  CHECK(call(s, FUSE_MKNOD, 1, &fifo, sizeof fifo, "fifo", NULL, NULL) == 0);
  uint64_t fifo_node = lookup(s, 1, "fifo", &e);
  CHECK(open_node(s, fifo_node, O_RDONLY, &fh) == -EACCES); /* would block the server, too */
  create.mode = S_IFREG | 06755;
  CHECK(call(s, FUSE_CREATE, 1, &create, sizeof create, "suid", NULL, NULL) == 0);
  struct fuse_mkdir_in mk = {.mode = 06777};
  CHECK(call(s, FUSE_MKDIR, 1, &mk, sizeof mk, "sgid", NULL, NULL) == 0);
  struct stat st;
  char path[512];
  snprintf(path, sizeof path, "%s/suid", root);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0755);
  snprintf(path, sizeof path, "%s/sgid", root);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 04777) == 0777); /* Linux takes a directory's S_ISGID from its parent */
  uint64_t file = lookup(s, 1, "file", &e);
  struct fuse_setattr_in set = {.valid = FATTR_MODE, .mode = S_IFREG | 06644};
  CHECK(call(s, FUSE_SETATTR, file, &set, sizeof set, NULL, NULL, NULL) == 0);
  snprintf(path, sizeof path, "%s/file", root);
  CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644);
  struct fuse_rename2_in whiteout = {.newdir = 1, .flags = RENAME_WHITEOUT};
  CHECK(call(s, FUSE_RENAME2, 1, &whiteout, sizeof whiteout, "file", "other", NULL) == -EINVAL);
  fs_server_free(s);
}

static void test_read_only(const char *root) {
  struct fs_server *s = server_at(root, true, NULL);
  int e;
  uint64_t file = lookup(s, 1, "file", &e), fh;
  CHECK(open_node(s, file, O_RDWR, &fh) == -EROFS);
  CHECK(open_node(s, file, O_RDONLY | O_TRUNC, &fh) == -EROFS);
  CHECK(open_node(s, file, O_RDONLY, &fh) == 0);
  struct fuse_write_in w = {.fh = fh, .size = 0};
  CHECK(call(s, FUSE_WRITE, file, &w, sizeof w, NULL, NULL, NULL) == -EROFS);
  struct fuse_mkdir_in mk = {.mode = 0755};
  CHECK(call(s, FUSE_MKDIR, 1, &mk, sizeof mk, "new", NULL, NULL) == -EROFS);
  CHECK(call(s, FUSE_UNLINK, 1, NULL, 0, "file", NULL, NULL) == -EROFS);
  struct fuse_setattr_in set = {.valid = FATTR_MTIME | FATTR_MTIME_NOW};
  CHECK(call(s, FUSE_SETATTR, file, &set, sizeof set, NULL, NULL, NULL) == -EROFS);
  fs_server_free(s);
}

static void test_single_file(const char *root) {
  struct fs_server *s = server_at(root, false, "file");
  int e;
  CHECK(lookup(s, 1, "file", &e) > 1 && e == 0);
  CHECK(lookup(s, 1, "dir", &e) == 0 && e == -ENOENT);
  struct fuse_create_in create = {.flags = O_WRONLY, .mode = S_IFREG | 0644};
  CHECK(call(s, FUSE_CREATE, 1, &create, sizeof create, "sibling", NULL, NULL) == -EPERM);
  CHECK(call(s, FUSE_UNLINK, 1, NULL, 0, "file", NULL, NULL) == -EPERM);
  CHECK(call(s, FUSE_UNLINK, 1, NULL, 0, "dir", NULL, NULL) == -EPERM);
  struct fuse_rename_in ren = {.newdir = 1};
  CHECK(call(s, FUSE_RENAME, 1, &ren, sizeof ren, "file", "moved", NULL) == -EPERM);
  const uint8_t *body;
  CHECK(call(s, FUSE_OPENDIR, 1, &(struct fuse_open_in){0}, sizeof(struct fuse_open_in), NULL, NULL, &body) == 0);
  struct fuse_read_in rd = {.size = 4096};
  memcpy(&rd.fh, body, sizeof rd.fh);
  size_t len;
  static uint8_t buf[256];
  size_t n = build(buf, FUSE_READDIR, 1, &rd, sizeof rd, NULL, NULL);
  CHECK(send_bytes(s, buf, n, OUT_SIZE, &body, &len) == 0);
  int names = 0, others = 0;
  for (size_t at = 0; at < len;) {
    const struct fuse_dirent *d = (const void *)(body + at);
    if (d->namelen == 4 && !memcmp(d->name, "file", 4)) names++;
    else if (!(d->namelen <= 2 && d->name[0] == '.')) others++;
    at += FUSE_DIRENT_SIZE(d);
  }
  CHECK(names == 1 && others == 0);
  /* The root's fh sent with another directory's nodeid: refused, not listed unfiltered. */
  uint64_t other = lookup(s, 1, "file", &e);
  n = build(buf, FUSE_READDIR, other, &rd, sizeof rd, NULL, NULL);
  CHECK(send_bytes(s, buf, n, OUT_SIZE, &body, &len) == -EBADF);
  fs_server_free(s);
}

/* How many entries named "only" a listing of the root shows: for READDIRPLUS, with a nodeid. */
static int listed_only(struct fs_server *s, uint32_t opcode) {
  const uint8_t *body;
  CHECK(call(s, FUSE_OPENDIR, 1, &(struct fuse_open_in){0}, sizeof(struct fuse_open_in), NULL, NULL, &body) == 0);
  struct fuse_read_in rd = {.size = 4096};
  memcpy(&rd.fh, body, sizeof rd.fh);
  static uint8_t buf[256];
  size_t len, n = build(buf, opcode, 1, &rd, sizeof rd, NULL, NULL);
  CHECK(send_bytes(s, buf, n, OUT_SIZE, &body, &len) == 0);
  bool plus = opcode == FUSE_READDIRPLUS;
  int found = 0;
  for (size_t at = 0; at < len;) {
    const struct fuse_direntplus *p = (const void *)(body + at);
    const struct fuse_dirent *d = plus ? &p->dirent : (const void *)(body + at);
    found += d->namelen == 4 && !memcmp(d->name, "only", 4) && (!plus || p->entry_out.nodeid);
    at += plus ? FUSE_DIRENTPLUS_SIZE(p) : FUSE_DIRENT_SIZE(d);
  }
  CHECK(call(s, FUSE_RELEASEDIR, 1, &(struct fuse_release_in){.fh = rd.fh}, sizeof(struct fuse_release_in), NULL, NULL, NULL) == 0);
  return found;
}

/* A single-file share's name, turned by the host into anything but a regular file: absent, not
 * a directory to walk (here holding a sibling's file), a symlink, a fifo or a device. */
static void test_single_file_kinds(const char *root) {
  char dir[128], only[160], inner[192];
  snprintf(dir, sizeof dir, "%s/single", root);
  snprintf(only, sizeof only, "%s/only", dir);
  snprintf(inner, sizeof inner, "%s/inner", only);
  CHECK(mkdir(dir, 0755) == 0);
  struct fs_server *s = server_at(dir, false, "only");
  int e;
  for (int kind = 0; kind < 4; kind++) {
    if (kind == 0) CHECK(mkdir(only, 0755) == 0);
    if (kind == 0) write_file(inner, "a sibling's\n");
    if (kind == 1) CHECK(symlink("..", only) == 0);
    if (kind == 2) CHECK(mkfifo(only, 0644) == 0);
    if (kind == 3) CHECK(mknod(only, S_IFCHR | 0666, makedev(1, 3)) == 0);
    CHECK(lookup(s, 1, "only", &e) == 0 && e == -ENOENT);
    CHECK(listed_only(s, FUSE_READDIR) == 0 && listed_only(s, FUSE_READDIRPLUS) == 0);
    if (kind == 0) CHECK(unlink(inner) == 0);
    CHECK(remove(only) == 0);
  }
  write_file(only, "the file\n");
  CHECK(lookup(s, 1, "only", &e) > 1 && e == 0);
  CHECK(listed_only(s, FUSE_READDIR) == 1 && listed_only(s, FUSE_READDIRPLUS) == 1);
  fs_server_free(s);
  CHECK(unlink(only) == 0 && rmdir(dir) == 0);
}

static off_t size_of(const char *root, const char *name) {
  char path[256];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", root, name);
  return stat(path, &st) == 0 ? st.st_size : -1;
}

/* A SETATTR refused for its times changes nothing, though its mode and size come first. */
static void test_setattr_refused_whole(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/times", root);
  write_file(path, "twelve bytes");
  int e;
  uint64_t file = lookup(s, 1, "times", &e);
  struct stat before, after;
  CHECK(stat(path, &before) == 0 && (before.st_mode & 07777) != 0600);
  struct fuse_setattr_in set = {.valid = FATTR_MODE | FATTR_SIZE | FATTR_MTIME, .mode = S_IFREG | 0600, .mtimensec = 1000000000};
  CHECK(call(s, FUSE_SETATTR, file, &set, sizeof set, NULL, NULL, NULL) == -EINVAL);
  CHECK(stat(path, &after) == 0 && after.st_size == 12 && after.st_mode == before.st_mode);
  /* UTIME_NOW's value is nanoseconds out of range too, not "now". */
  set = (struct fuse_setattr_in){.valid = FATTR_SIZE | FATTR_ATIME, .atimensec = UTIME_NOW};
  CHECK(call(s, FUSE_SETATTR, file, &set, sizeof set, NULL, NULL, NULL) == -EINVAL && size_of(root, "times") == 12);
  /* The nanoseconds of a time set to "now", or not set, are not the request's: not checked. */
  set = (struct fuse_setattr_in){.valid = FATTR_SIZE | FATTR_MTIME | FATTR_MTIME_NOW, .atimensec = ~0u, .mtimensec = ~0u};
  CHECK(call(s, FUSE_SETATTR, file, &set, sizeof set, NULL, NULL, NULL) == 0 && size_of(root, "times") == 0);
  fs_server_free(s);
}

/* Every op that takes an fh refuses one opened for another nodeid, and leaves that file be. */
static void test_fh_of_other_node(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  char path[256];
  snprintf(path, sizeof path, "%s/fh-a", root);
  write_file(path, "file a");
  snprintf(path, sizeof path, "%s/fh-b", root);
  write_file(path, "file b");
  int e;
  uint64_t a = lookup(s, 1, "fh-a", &e), b = lookup(s, 1, "fh-b", &e), fh_a, fh_b;
  CHECK(open_node(s, a, O_RDWR, &fh_a) == 0 && open_node(s, b, O_RDWR, &fh_b) == 0);
  struct fuse_setattr_in set = {.valid = FATTR_SIZE | FATTR_FH, .fh = fh_b};
  CHECK(call(s, FUSE_SETATTR, a, &set, sizeof set, NULL, NULL, NULL) == -EBADF);
  CHECK(size_of(root, "fh-a") == 6 && size_of(root, "fh-b") == 6);
  /* Each of these takes its fh first in its arguments. */
  static const uint32_t ops[] = {FUSE_READ, FUSE_WRITE, FUSE_FLUSH, FUSE_FSYNC, FUSE_FALLOCATE, FUSE_LSEEK, FUSE_RELEASE};
  static const size_t sizes[] = {sizeof(struct fuse_read_in), sizeof(struct fuse_write_in), sizeof(struct fuse_flush_in),
                                 sizeof(struct fuse_fsync_in), sizeof(struct fuse_fallocate_in), sizeof(struct fuse_lseek_in),
                                 sizeof(struct fuse_release_in)};
  for (size_t i = 0; i < sizeof ops / sizeof *ops; i++) {
    uint64_t arg[8] = {fh_b};
    CHECK(call(s, ops[i], a, arg, sizes[i], NULL, NULL, NULL) == -EBADF);
  }
  struct fuse_read_in rd = {.fh = fh_b, .size = 100};
  const uint8_t *body;
  CHECK(call(s, FUSE_READ, b, &rd, sizeof rd, NULL, NULL, &body) == 0 && memcmp(body, "file b", 6) == 0); /* not released */
  /* Forgotten while open (as no kernel does), b's fhs go with it: the next inode given b's nodeid must not get them. */
  CHECK(call(s, FUSE_FORGET, b, &(struct fuse_forget_in){.nlookup = 1}, sizeof(struct fuse_forget_in), NULL, NULL, NULL) == 1);
  uint64_t c = lookup(s, 1, "times", &e);
  rd.fh = fh_b;
  CHECK(call(s, FUSE_READ, c, &rd, sizeof rd, NULL, NULL, NULL) == -EBADF);
  CHECK(call(s, FUSE_READ, b, &rd, sizeof rd, NULL, NULL, NULL) == -EBADF);
  rd.fh = fh_a;
  CHECK(call(s, FUSE_READ, a, &rd, sizeof rd, NULL, NULL, &body) == 0 && memcmp(body, "file a", 6) == 0);
  fs_server_free(s);
}

/* A WRITE's data and a READ's reply may span several buffers (virtqueue descriptors). */
static void test_split_buffers(const char *root) {
  struct fs_server *s = server_at(root, false, NULL);
  struct fuse_create_in create = {.flags = O_RDWR, .mode = S_IFREG | 0644};
  const uint8_t *body;
  CHECK(call(s, FUSE_CREATE, 1, &create, sizeof create, "split", NULL, &body) == 0);
  struct fuse_entry_out entry;
  struct fuse_open_out opened;
  memcpy(&entry, body, sizeof entry);
  memcpy(&opened, body + sizeof entry, sizeof opened);
  static uint8_t req[256];
  size_t len = build(req, FUSE_WRITE, entry.nodeid, &(struct fuse_write_in){.fh = opened.fh, .offset = 2, .size = 10},
                     sizeof(struct fuse_write_in), "0123456789" /* its NUL is cut below */, NULL) - 1;
  ((struct fuse_in_header *)req)->len = (uint32_t)len;
  struct iovec in[3] = {{req, 30}, {req + 30, 55}, {req + 85, len - 85}};
  struct iovec out[1] = {{out_buf, OUT_SIZE}};
  CHECK(fs_server_handle(s, in, 3, out, 1) == sizeof(struct fuse_out_header) + sizeof(struct fuse_write_out));
  len = build(req, FUSE_READ, entry.nodeid, &(struct fuse_read_in){.fh = opened.fh, .size = 100}, sizeof(struct fuse_read_in), NULL, NULL);
  static uint8_t a[20], b[100];
  struct iovec reply[2] = {{a, sizeof a}, {b, sizeof b}};
  struct iovec one = {req, len};
  CHECK(fs_server_handle(s, &one, 1, reply, 2) == sizeof(struct fuse_out_header) + 12);
  CHECK(memcmp(a + 16, "\0\0" "01", 4) == 0 && memcmp(b, "23456789", 8) == 0);
  fs_server_free(s);
}

/* Valid requests to mutate: the fuzz loop's seeds. */
static size_t seed(uint8_t *buf, uint64_t file, uint64_t fh, uint64_t dir_fh) {
  switch (pick(10)) {
  case 0:
    return build(buf, FUSE_LOOKUP, 1, NULL, 0, "file", NULL);
  case 1:
    return build(buf, FUSE_CREATE, 1, &(struct fuse_create_in){.flags = O_RDWR, .mode = S_IFREG | 0644}, sizeof(struct fuse_create_in), "fz", NULL);
  case 2:
    return build(buf, FUSE_READ, file, &(struct fuse_read_in){.fh = fh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL);
  case 3:
    return build(buf, FUSE_WRITE, file, &(struct fuse_write_in){.fh = fh, .size = 5}, sizeof(struct fuse_write_in), "abcd", NULL);
  case 4:
    return build(buf, FUSE_SETATTR, file, &(struct fuse_setattr_in){.valid = FATTR_SIZE | FATTR_MTIME, .size = 10}, sizeof(struct fuse_setattr_in), NULL, NULL);
  case 5:
    return build(buf, FUSE_RENAME, 1, &(struct fuse_rename_in){.newdir = 1}, sizeof(struct fuse_rename_in), "fz", "fz2");
  case 6:
    return build(buf, FUSE_READDIRPLUS, 1, &(struct fuse_read_in){.fh = dir_fh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL);
  case 7: {
    struct {
      struct fuse_batch_forget_in in;
      struct fuse_forget_one one[2];
    } b = {{.count = 2}, {{.nodeid = file, .nlookup = 1}, {.nodeid = 5, .nlookup = 1}}};
    return build(buf, FUSE_BATCH_FORGET, 0, &b, sizeof b, NULL, NULL);
  }
  case 8:
    return build(buf, FUSE_SYMLINK, 1, NULL, 0, "sl", "../../../etc");
  default:
    return build(buf, FUSE_MKDIR, 1, &(struct fuse_mkdir_in){.mode = 0755}, sizeof(struct fuse_mkdir_in), "d", NULL);
  }
}

static void test_fuzz(const char *root, const char *outer) {
  struct fs_server *s = server_at(root, false, NULL);
  int e;
  uint64_t file = 0, fh = 0; /* opened at round 0 */
  const uint8_t *body;
  uint64_t dir_fh = 0;
  if (call(s, FUSE_OPENDIR, 1, &(struct fuse_open_in){0}, sizeof(struct fuse_open_in), NULL, NULL, &body) == 0) memcpy(&dir_fh, body, sizeof dir_fh);
  static uint8_t buf[8192];
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    size_t len = seed(buf, file, fh, dir_fh);
    if (pick(8) == 0) {
      len = pick(200);
      for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)test_rand(&test_rng);
    }
    len = mutate(buf, len, sizeof buf);
    struct fuzz_io io;
    fuzz_split(&io, buf, len);
    fuzz_check(&io, fs_server_handle(s, io.in, 2, io.out, 2));
    if (round % 1000 == 0) {
      init(s, 0, 0); /* a mutated DESTROY or INIT must not end the run */
      /* Nor a FORGET of the file, which closes its fh: the READ and WRITE seeds want one. */
      file = lookup(s, 1, "file", &e);
      open_node(s, file, O_RDWR, &fh);
    }
  }
  fs_server_free(s);
  /* Nothing escaped the share: its parent still holds the share alone. */
  DIR *d = opendir(outer);
  int entries = 0;
  for (struct dirent *ent; d && (ent = readdir(d));) entries += strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..");
  if (d) closedir(d);
  CHECK(entries == 1);
}

int main(void) {
  /* The fuzzer may fallocate or truncate at random sizes: keep them small. */
  signal(SIGXFSZ, SIG_IGN);
  umask(0); /* as fsd runs: the guest applied its umask already */
  setrlimit(RLIMIT_FSIZE, &(struct rlimit){64 << 20, 64 << 20});
  char outer[] = "/tmp/fsd-test-XXXXXX";
  CHECK(mkdtemp(outer) != NULL);
  char root[64], path[128];
  snprintf(root, sizeof root, "%s/share", outer);
  mkdir(root, 0755);
  snprintf(path, sizeof path, "%s/file", root);
  write_file(path, "hello\n");
  char hard[128];
  snprintf(hard, sizeof hard, "%s/hardlink", root);
  link(path, hard);
  snprintf(path, sizeof path, "%s/dir", root);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/etc", root);
  symlink("/etc", path);
  snprintf(path, sizeof path, "%s/null", root);
  CHECK(mknod(path, S_IFCHR | 0666, makedev(1, 3)) == 0); /* the tests run as root */
  test_init(root);
  test_names_and_nodeids(root);
  test_timeouts(root);
  test_kill_suidgid(root);
  test_read_only(root);
  test_single_file(root);
  test_confinement(root);
  test_single_file_kinds(root);
  test_setattr_refused_whole(root);
  test_fh_of_other_node(root);
  test_split_buffers(root);
  test_fuzz(root, outer);
  char rm[160];
  snprintf(rm, sizeof rm, "rm -rf %s", outer);
  CHECK(system(rm) == 0);
  return test_finish("test_fs_server");
}
