/*
 * The mux driven with requests built by hand over two real shares (one read-only): the virtual
 * root, routing by nodeid, the rewriting of nodeids and fhs both ways, cross-share EXDEV, the
 * split of BATCH_FORGET, and a fuzz loop of malformed requests (under ASan/UBSan) that must only
 * ever get well-formed replies and never create anything outside the shares.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mux.h"
#include "test_fuse.h"

#define TAG(share) (((uint64_t)(share) + 1) << 48)


/* Sends an exact-size copy (so ASan sees any over-read); the reply's error (1: none), its body in *body. */
static int call(struct fs_mux *m, uint32_t opcode, uint64_t nodeid, const void *arg, size_t arg_len, const char *name1,
                const char *name2, const uint8_t **body, size_t *body_len) {
  static uint8_t buf[8192];
  size_t len = build(buf, opcode, nodeid, arg, arg_len, name1, name2);
  uint8_t *copy = copy_exact(buf, len);
  struct iovec in = {copy, len}, out = {out_buf, OUT_SIZE};
  size_t n = fs_mux_handle(m, &in, 1, &out, 1);
  free(copy);
  if (body) *body = out_buf + sizeof(struct fuse_out_header);
  if (body_len) *body_len = n > sizeof(struct fuse_out_header) ? n - sizeof(struct fuse_out_header) : 0;
  if (n == 0) return 1;
  struct fuse_out_header h;
  memcpy(&h, out_buf, sizeof h);
  CHECK(h.len == n && h.unique == next_unique - 1);
  return h.error;
}

static uint64_t lookup(struct fs_mux *m, uint64_t parent, const char *name, int *error) {
  const uint8_t *body;
  *error = call(m, FUSE_LOOKUP, parent, NULL, 0, name, NULL, &body, NULL);
  struct fuse_entry_out e = {0};
  if (*error == 0) memcpy(&e, body, sizeof e);
  if (*error == 0 && e.nodeid == 0) *error = -ENOENT; /* as the kernel reads an absent name */
  return e.nodeid;
}

static int open_node(struct fs_mux *m, uint32_t opcode, uint64_t nodeid, uint32_t flags, uint64_t *fh) {
  const uint8_t *body;
  int e = call(m, opcode, nodeid, &(struct fuse_open_in){.flags = flags}, sizeof(struct fuse_open_in), NULL, NULL, &body, NULL);
  if (e == 0) memcpy(fh, body, sizeof *fh);
  return e;
}

static int read_node(struct fs_mux *m, uint64_t nodeid, uint64_t fh, char *into, size_t cap) {
  const uint8_t *body;
  size_t len;
  struct fuse_read_in r = {.fh = fh, .size = (uint32_t)cap - 1};
  int e = call(m, FUSE_READ, nodeid, &r, sizeof r, NULL, NULL, &body, &len);
  if (e == 0) {
    memcpy(into, body, len);
    into[len] = '\0';
  }
  return e;
}

static uint64_t getattr_size(struct fs_mux *m, uint64_t nodeid, int *error) {
  const uint8_t *body;
  *error = call(m, FUSE_GETATTR, nodeid, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, &body, NULL);
  struct fuse_attr_out a = {0};
  if (*error == 0) memcpy(&a, body, sizeof a);
  return a.attr.size;
}

static struct fs_mux *mux_at(const char *a, const char *b) {
  struct mux_share shares[] = {{"a", {.root = a}}, {"b.ro", {.root = b, .read_only = true}}};
  char why[256];
  struct fs_mux *m = fs_mux_new(shares, 2, why, sizeof why);
  CHECK(m != NULL);
  struct fuse_init_in in = {.major = 7, .minor = 41, .max_readahead = 131072};
  const uint8_t *body;
  CHECK(call(m, FUSE_INIT, 0, &in, sizeof in, NULL, NULL, &body, NULL) == 0);
  struct fuse_init_out out;
  memcpy(&out, body, sizeof out);
  CHECK(out.major == 7 && out.minor == 38);
  return m;
}

static void test_new(const char *a) {
  char why[256];
  struct mux_share bad[][2] = {
      {{"", {.root = a}}, {"b", {.root = a}}},
      {{"a/b", {.root = a}}, {"b", {.root = a}}},
      {{"..", {.root = a}}, {"b", {.root = a}}},
      {{"0123456789012345678901234567890123456", {.root = a}}, {"b", {.root = a}}},
      {{"a", {.root = a}}, {"a", {.root = a}}},
      {{"a", {.root = a}}, {"b", {.root = "/nonexistent-fsd-root"}}},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) CHECK(fs_mux_new(bad[i], 2, why, sizeof why) == NULL);
  CHECK_STR(why, "share b: open(/nonexistent-fsd-root): No such file or directory");
  CHECK(fs_mux_new(bad[0], 0, why, sizeof why) == NULL);
  struct mux_share good = {"012345678901234567890123456789012345", {.root = a}};
  struct fs_mux *m = fs_mux_new(&good, 1, why, sizeof why);
  CHECK(m != NULL);
  fs_mux_free(m);
}

/* Names in a READDIR(PLUS) page, space-separated. */
static void names_of(const uint8_t *body, size_t len, bool plus, char *names, size_t cap) {
  names[0] = '\0';
  for (size_t at = 0; at < len;) {
    struct fuse_dirent d;
    size_t dirent_at = at + (plus ? offsetof(struct fuse_direntplus, dirent) : 0);
    memcpy(&d, body + dirent_at, sizeof d);
    snprintf(names + strlen(names), cap - strlen(names), "%s%.*s", names[0] ? " " : "", (int)d.namelen,
             (const char *)body + dirent_at + FUSE_NAME_OFFSET);
    at += plus ? FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){.dirent = d}) : FUSE_DIRENT_SIZE(&d);
  }
}

static void test_root(struct fs_mux *m) {
  const uint8_t *body;
  size_t len;
  CHECK(call(m, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, &body, NULL) == 0);
  struct fuse_attr_out a;
  memcpy(&a, body, sizeof a);
  CHECK(a.attr.ino == 1 && a.attr.mode == (S_IFDIR | 0555) && a.attr.nlink == 2 && a.attr.uid == geteuid() && a.attr_valid == 1);
  int e;
  CHECK(lookup(m, 1, "a", &e) == (TAG(0) | 1) && e == 0);
  CHECK(lookup(m, 1, "b.ro", &e) == (TAG(1) | 1) && e == 0);
  lookup(m, 1, "c", &e);
  CHECK(e == -ENOENT);
  uint64_t fh = 99;
  CHECK(open_node(m, FUSE_OPENDIR, 1, O_RDONLY, &fh) == 0);
  char names[256];
  for (int plus = 0; plus < 2; plus++) {
    uint32_t op = plus ? FUSE_READDIRPLUS : FUSE_READDIR;
    CHECK(call(m, op, 1, &(struct fuse_read_in){.fh = fh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL, &body, &len) == 0);
    names_of(body, len, plus, names, sizeof names);
    CHECK_STR(names, ". .. a b.ro");
    /* From an entry's offset on; and a page too small for the next entry ends the listing early. */
    CHECK(call(m, op, 1, &(struct fuse_read_in){.fh = fh, .offset = 3, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL, &body, &len) == 0);
    names_of(body, len, plus, names, sizeof names);
    CHECK_STR(names, "b.ro");
    CHECK(call(m, op, 1, &(struct fuse_read_in){.fh = fh, .size = 8}, sizeof(struct fuse_read_in), NULL, NULL, &body, &len) == 0 && len == 0);
    CHECK(call(m, op, 1, &(struct fuse_read_in){.fh = fh + 1, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL, NULL, NULL) == -EBADF);
  }
  CHECK(call(m, FUSE_READDIRPLUS, 1, &(struct fuse_read_in){.size = 4096}, sizeof(struct fuse_read_in), NULL, NULL, &body, &len) == 0);
  struct fuse_direntplus third;
  memcpy(&third, body + 2 * FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){.dirent.namelen = 1}), sizeof third);
  CHECK(third.entry_out.nodeid == (TAG(0) | 1));
  CHECK(call(m, FUSE_RELEASEDIR, 1, &(struct fuse_release_in){.fh = fh}, sizeof(struct fuse_release_in), NULL, NULL, NULL, NULL) == 0);
  CHECK(call(m, FUSE_STATFS, 1, NULL, 0, NULL, NULL, &body, &len) == 0 && len == sizeof(struct fuse_statfs_out));
  CHECK(open_node(m, FUSE_OPEN, 1, O_RDONLY, &fh) == -EISDIR);
  CHECK(call(m, FUSE_MKDIR, 1, &(struct fuse_mkdir_in){.mode = 0755}, sizeof(struct fuse_mkdir_in), "d", NULL, NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_CREATE, 1, &(struct fuse_create_in){.mode = S_IFREG | 0644}, sizeof(struct fuse_create_in), "f", NULL, NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_MKNOD, 1, &(struct fuse_mknod_in){.mode = S_IFREG | 0644}, sizeof(struct fuse_mknod_in), "f", NULL, NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_SYMLINK, 1, NULL, 0, "s", "a", NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_UNLINK, 1, NULL, 0, "a", NULL, NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_RMDIR, 1, NULL, 0, "a", NULL, NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_RENAME, 1, &(struct fuse_rename_in){.newdir = 1}, sizeof(struct fuse_rename_in), "a", "c", NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_SETATTR, 1, &(struct fuse_setattr_in){.valid = FATTR_MODE, .mode = 0777}, sizeof(struct fuse_setattr_in), NULL, NULL, NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_GETXATTR, 1, &(struct fuse_getxattr_in){.size = 64}, sizeof(struct fuse_getxattr_in), "user.x", NULL, NULL, NULL) == -ENOSYS);
}

static void test_routing(struct fs_mux *m, const char *a, const char *b) {
  int e;
  uint64_t ra = TAG(0) | 1, rb = TAG(1) | 1;
  uint64_t x = lookup(m, ra, "x", &e), y = lookup(m, rb, "y", &e);
  CHECK(x >> 48 == 1 && y >> 48 == 2);
  CHECK(getattr_size(m, x, &e) == 3 && getattr_size(m, y, &e) == 5);
  /* A nodeid no share gave out. */
  getattr_size(m, TAG(2) | 1, &e);
  CHECK(e == -ENOENT);
  getattr_size(m, 7, &e);
  CHECK(e == -ENOENT);
  uint64_t fx, fy;
  CHECK(open_node(m, FUSE_OPEN, x, O_RDONLY, &fx) == 0 && fx >> 48 == 1);
  CHECK(open_node(m, FUSE_OPEN, y, O_RDONLY, &fy) == 0 && fy >> 48 == 2);
  char text[64];
  CHECK(read_node(m, x, fx, text, sizeof text) == 0);
  CHECK_STR(text, "xx\n");
  CHECK(read_node(m, y, fy, text, sizeof text) == 0);
  CHECK_STR(text, "yyyy\n");
  /* One share's fh is nothing to another. */
  CHECK(read_node(m, x, fy, text, sizeof text) == -EBADF);
  CHECK(read_node(m, x, fx & ((1ull << 48) - 1), text, sizeof text) == -EBADF);
  CHECK(call(m, FUSE_RELEASE, x, &(struct fuse_release_in){.fh = fx}, sizeof(struct fuse_release_in), NULL, NULL, NULL, NULL) == 0);
  CHECK(read_node(m, x, fx, text, sizeof text) == -EBADF);

  /* CREATE's entry and fh, then a WRITE whose data spans three buffers, lands in share a. */
  const uint8_t *body;
  CHECK(call(m, FUSE_CREATE, ra, &(struct fuse_create_in){.flags = O_RDWR, .mode = S_IFREG | 0644}, sizeof(struct fuse_create_in), "new", NULL, &body, NULL) == 0);
  struct fuse_entry_out entry;
  struct fuse_open_out open_out;
  memcpy(&entry, body, sizeof entry);
  memcpy(&open_out, body + sizeof entry, sizeof open_out);
  CHECK(entry.nodeid >> 48 == 1 && open_out.fh >> 48 == 1);
  struct {
    struct fuse_in_header h;
    struct fuse_write_in w;
  } req = {{.len = sizeof req + 6, .opcode = FUSE_WRITE, .unique = next_unique++, .nodeid = entry.nodeid}, {.fh = open_out.fh, .size = 6}};
  struct iovec in[3] = {{&req, sizeof req}, {"wri", 3}, {"te", 2}};
  struct iovec last = {"\n", 1};
  struct iovec ins[4] = {in[0], in[1], in[2], last};
  struct iovec out = {out_buf, OUT_SIZE};
  CHECK(fs_mux_handle(m, ins, 4, &out, 1) == sizeof(struct fuse_out_header) + sizeof(struct fuse_write_out));
  char path[128];
  snprintf(path, sizeof path, "%s/new", a);
  FILE *f = fopen(path, "r");
  CHECK(f && fgets(text, sizeof text, f));
  if (f) fclose(f);
  CHECK_STR(text, "write\n");

  /* The read-only share refuses; a rename or link across shares is EXDEV, within one it works. */
  CHECK(call(m, FUSE_MKDIR, rb, &(struct fuse_mkdir_in){.mode = 0755}, sizeof(struct fuse_mkdir_in), "d", NULL, NULL, NULL) == -EROFS);
  CHECK(call(m, FUSE_RENAME, ra, &(struct fuse_rename_in){.newdir = rb}, sizeof(struct fuse_rename_in), "new", "nu", NULL, NULL) == -EXDEV);
  CHECK(call(m, FUSE_RENAME2, ra, &(struct fuse_rename2_in){.newdir = rb}, sizeof(struct fuse_rename2_in), "new", "nu", NULL, NULL) == -EXDEV);
  CHECK(call(m, FUSE_RENAME, ra, &(struct fuse_rename_in){.newdir = 1}, sizeof(struct fuse_rename_in), "new", "nu", NULL, NULL) == -EPERM);
  CHECK(call(m, FUSE_RENAME, ra, &(struct fuse_rename_in){.newdir = TAG(7) | 1}, sizeof(struct fuse_rename_in), "new", "n", NULL, NULL) == -ENOENT);
  CHECK(call(m, FUSE_LINK, rb, &(struct fuse_link_in){.oldnodeid = x}, sizeof(struct fuse_link_in), "x", NULL, NULL, NULL) == -EXDEV);
  CHECK(call(m, FUSE_RENAME, ra, &(struct fuse_rename_in){.newdir = ra}, sizeof(struct fuse_rename_in), "new", "renamed", NULL, NULL) == 0);
  CHECK(call(m, FUSE_LINK, ra, &(struct fuse_link_in){.oldnodeid = x}, sizeof(struct fuse_link_in), "x2", NULL, &body, NULL) == 0);
  memcpy(&entry, body, sizeof entry);
  CHECK(entry.nodeid == x); /* hard links share a nodeid, tagged alike */
  snprintf(path, sizeof path, "%s/renamed", a);
  CHECK(access(path, F_OK) == 0);
  snprintf(path, sizeof path, "%s/new", b);
  CHECK(access(path, F_OK) != 0);

  /* READDIRPLUS in a share: its entries' nodeids come back tagged. */
  uint64_t dh;
  CHECK(open_node(m, FUSE_OPENDIR, ra, O_RDONLY, &dh) == 0 && dh >> 48 == 1);
  size_t len;
  CHECK(call(m, FUSE_READDIRPLUS, ra, &(struct fuse_read_in){.fh = dh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL, &body, &len) == 0);
  int tagged = 0;
  for (size_t at = 0; at < len;) {
    struct fuse_direntplus d;
    memcpy(&d, body + at, sizeof d);
    CHECK(d.entry_out.nodeid == 0 || d.entry_out.nodeid >> 48 == 1);
    tagged += d.entry_out.nodeid != 0;
    at += FUSE_DIRENTPLUS_SIZE(&d);
  }
  CHECK(tagged >= 3); /* x, x2, renamed */
  CHECK(call(m, FUSE_READDIRPLUS, rb, &(struct fuse_read_in){.fh = dh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL, NULL, NULL) == -EBADF);
}

/* As virtio-fs sends a FORGET: with no buffer for a reply, and none is written. */
static void forget_unanswered(struct fs_mux *m, uint32_t opcode, uint64_t nodeid, const void *arg, size_t arg_len) {
  static uint8_t buf[512];
  size_t len = build(buf, opcode, nodeid, arg, arg_len, NULL, NULL);
  uint8_t *copy = copy_exact(buf, len);
  CHECK(fs_mux_handle(m, &(struct iovec){copy, len}, 1, NULL, 0) == 0);
  free(copy);
}

/* An absent name is nodeid 0 through the mux too: untagged, or the kernel would take it for an inode. */
static void test_absent(struct fs_mux *m) {
  const uint8_t *body;
  CHECK(call(m, FUSE_LOOKUP, TAG(0) | 1, NULL, 0, "absent", NULL, &body, NULL) == 0);
  struct fuse_entry_out e;
  memcpy(&e, body, sizeof e);
  CHECK(e.nodeid == 0 && e.entry_valid_nsec > 0);
}

static void test_batch_forget(struct fs_mux *m) {
  int e;
  uint64_t ra = TAG(0) | 1, rb = TAG(1) | 1;
  uint64_t z = lookup(m, ra, "z", &e), y = lookup(m, rb, "y", &e);
  lookup(m, rb, "y", &e);
  struct {
    struct fuse_batch_forget_in in;
    struct fuse_forget_one one[6];
  } b = {{.count = 6},
         {{.nodeid = z, .nlookup = 1},
          {.nodeid = y, .nlookup = 1},
          {.nodeid = ra, .nlookup = 1},
          {.nodeid = rb, .nlookup = 9},
          {.nodeid = 1, .nlookup = 1},
          {.nodeid = TAG(9) | 3, .nlookup = 1}}};
  forget_unanswered(m, FUSE_BATCH_FORGET, 0, &b, sizeof b);
  /* z's one lookup is forgotten in share a; y had two in share b, so it stays; the roots stay. */
  getattr_size(m, z, &e);
  CHECK(e != 0);
  CHECK(getattr_size(m, y, &e) == 5 && e == 0);
  getattr_size(m, ra, &e);
  CHECK(e == 0);
  getattr_size(m, rb, &e);
  CHECK(e == 0);
  CHECK(call(m, FUSE_FORGET, rb, &(struct fuse_forget_in){.nlookup = 5}, sizeof(struct fuse_forget_in), NULL, NULL, NULL, NULL) == 1);
  getattr_size(m, rb, &e);
  CHECK(e == 0);
  forget_unanswered(m, FUSE_FORGET, y, &(struct fuse_forget_in){.nlookup = 1}, sizeof(struct fuse_forget_in));
  getattr_size(m, y, &e);
  CHECK(e != 0);
}

/* Valid requests to mutate: the fuzz loop's seeds, in either share or the root. */
static size_t seed(uint8_t *buf, const uint64_t *nodes, size_t node_count, const uint64_t *fhs, size_t fh_count) {
  uint64_t node = nodes[pick(node_count)], fh = fhs[pick(fh_count)], other = nodes[pick(node_count)];
  switch (pick(12)) {
  case 0:
    return build(buf, FUSE_LOOKUP, node, NULL, 0, pick(2) ? "x" : "a", NULL);
  case 1:
    return build(buf, FUSE_CREATE, node, &(struct fuse_create_in){.flags = O_RDWR, .mode = S_IFREG | 0644}, sizeof(struct fuse_create_in), "fz", NULL);
  case 2:
    return build(buf, FUSE_READ, node, &(struct fuse_read_in){.fh = fh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL);
  case 3:
    return build(buf, FUSE_WRITE, node, &(struct fuse_write_in){.fh = fh, .size = 5}, sizeof(struct fuse_write_in), "abcd", NULL);
  case 4:
    return build(buf, FUSE_SETATTR, node, &(struct fuse_setattr_in){.valid = FATTR_FH | FATTR_SIZE, .fh = fh, .size = 10}, sizeof(struct fuse_setattr_in), NULL, NULL);
  case 5:
    return build(buf, FUSE_RENAME, node, &(struct fuse_rename_in){.newdir = other}, sizeof(struct fuse_rename_in), "fz", "fz2");
  case 6:
    return build(buf, pick(2) ? FUSE_READDIRPLUS : FUSE_READDIR, node, &(struct fuse_read_in){.fh = fh, .size = 4096}, sizeof(struct fuse_read_in), NULL, NULL);
  case 7: {
    struct {
      struct fuse_batch_forget_in in;
      struct fuse_forget_one one[2];
    } b = {{.count = 2}, {{.nodeid = node, .nlookup = 1}, {.nodeid = other, .nlookup = 1}}};
    return build(buf, FUSE_BATCH_FORGET, 0, &b, sizeof b, NULL, NULL);
  }
  case 8:
    return build(buf, FUSE_LINK, node, &(struct fuse_link_in){.oldnodeid = other}, sizeof(struct fuse_link_in), "ln", NULL);
  case 9:
    return build(buf, pick(2) ? FUSE_OPENDIR : FUSE_OPEN, node, &(struct fuse_open_in){.flags = O_RDWR}, sizeof(struct fuse_open_in), NULL, NULL);
  case 10:
    return build(buf, FUSE_GETATTR, node, &(struct fuse_getattr_in){.getattr_flags = FUSE_GETATTR_FH, .fh = fh}, sizeof(struct fuse_getattr_in), NULL, NULL);
  default:
    return build(buf, FUSE_MKDIR, node, &(struct fuse_mkdir_in){.mode = 0755}, sizeof(struct fuse_mkdir_in), "d", NULL);
  }
}

static void test_fuzz(struct fs_mux *m, const char *outer) {
  int e;
  uint64_t ra = TAG(0) | 1, rb = TAG(1) | 1;
  uint64_t x = lookup(m, ra, "x", &e), y = lookup(m, rb, "y", &e), fx = 0, fy = 0, dh = 0;
  open_node(m, FUSE_OPEN, x, O_RDWR, &fx);
  open_node(m, FUSE_OPEN, y, O_RDONLY, &fy);
  open_node(m, FUSE_OPENDIR, ra, O_RDONLY, &dh);
  const uint64_t nodes[] = {1, ra, rb, x, y, 0, TAG(2) | 1, TAG(0) | 0xffffffffffffull, ~0ull};
  const uint64_t fhs[] = {0, fx, fy, dh, fx & 0xffff, TAG(3), ~0ull};
  static uint8_t buf[8192];
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    size_t len = seed(buf, nodes, sizeof nodes / sizeof *nodes, fhs, sizeof fhs / sizeof *fhs);
    if (pick(8) == 0) {
      len = pick(200);
      for (size_t i = 0; i < len; i++) buf[i] = (uint8_t)test_rand(&test_rng);
    }
    if (pick(2)) len = mutate(buf, len, sizeof buf);
    struct fuzz_io io;
    fuzz_split(&io, buf, len);
    fuzz_check(&io, fs_mux_handle(m, io.in, 2, io.out, 2));
    if (round % 1000 == 0) {
      struct fuse_init_in init = {.major = 7, .minor = 41};
      CHECK(call(m, FUSE_INIT, 0, &init, sizeof init, NULL, NULL, NULL, NULL) == 0); /* a mutated DESTROY must not end the run */
    }
  }
  /* Nothing escaped the shares: their parent still holds the two alone. */
  DIR *d = opendir(outer);
  int entries = 0;
  for (struct dirent *ent; d && (ent = readdir(d));) entries += strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..");
  if (d) closedir(d);
  CHECK(entries == 2);
}

int main(void) {
  umask(0); /* as fsd runs: the guest applied its umask already */
  char outer[] = "/tmp/fsd-mux-test-XXXXXX";
  CHECK(mkdtemp(outer) != NULL);
  char a[64], b[64], path[128];
  snprintf(a, sizeof a, "%s/a", outer);
  snprintf(b, sizeof b, "%s/b", outer);
  mkdir(a, 0755);
  mkdir(b, 0755);
  snprintf(path, sizeof path, "%s/x", a);
  write_file(path, "xx\n");
  snprintf(path, sizeof path, "%s/z", a);
  write_file(path, "z\n");
  snprintf(path, sizeof path, "%s/y", b);
  write_file(path, "yyyy\n");
  test_new(a);
  struct fs_mux *m = mux_at(a, b);
  /* Before INIT (and after DESTROY) the root answers nothing either. */
  struct fs_mux *fresh = fs_mux_new(&(struct mux_share){"a", {.root = a}}, 1, path, sizeof path);
  CHECK(call(fresh, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL, NULL) == -EIO);
  fs_mux_free(fresh);
  test_root(m);
  test_absent(m);
  test_batch_forget(m); /* first: READDIRPLUS in test_routing counts lookups of every file */
  test_routing(m, a, b);
  CHECK(call(m, FUSE_DESTROY, 0, NULL, 0, NULL, NULL, NULL, NULL) == 0);
  CHECK(call(m, FUSE_GETATTR, 1, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, NULL, NULL) == -EIO);
  fs_mux_free(m);
  m = mux_at(a, b);
  test_fuzz(m, outer);
  fs_mux_free(m);
  char rm[160];
  snprintf(rm, sizeof rm, "rm -rf %s", outer);
  CHECK(system(rm) == 0);
  return test_finish("test_mux");
}
