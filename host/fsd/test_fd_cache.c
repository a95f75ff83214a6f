/*
 * The nodeid table's bounded descriptor cache, driven through requests on a real directory with
 * a handful of descriptors: evicted inodes are re-opened by name (through evicted ancestors too),
 * answer ESTALE once the host moved or replaced them (never another file's data, never a file
 * outside the share), an inode whose name the guest removed stays usable, FORGET gives every
 * descriptor back, and what one request took stays open until the next.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_internal.h"
#include "test_requests.h"

#define MANY 500
#define SMALL_CACHE 8
/* Descriptors a request may pin beyond the cache: a parent and the inodes it names. */
#define PINNED_SLACK 4
/* More names than any cache below holds: looking them all up evicts every other inode. */
#define CHURN 16

static char root[128], outside[128];

/* A formatted string in one of a few rotating buffers: enough for the arguments of one call. */
static const char *str(const char *fmt, ...) {
  static char bufs[8][512];
  static int next;
  char *p = bufs[next++ % 8];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p, sizeof bufs[0], fmt, ap);
  va_end(ap);
  return p;
}

/* The host's path of a path in the share. */
static const char *host(const char *in_share) { return str("%s/%s", root, in_share); }

static int open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n - 1; /* the listing's own */
}

static struct fs_server *server_with(unsigned max_fds) {
  char why[256];
  struct fs_server *s = fs_server_new(&(struct fs_options){.root = root, .max_inode_fds = max_fds}, why, sizeof why);
  CHECK(s != NULL);
  if (s) init(s, FUSE_ASYNC_READ, 0);
  return s;
}

static uint64_t must_lookup(struct fs_server *s, uint64_t parent, const char *name) {
  int e;
  uint64_t nodeid = lookup(s, parent, name, &e);
  CHECK(e == 0 && nodeid > 1);
  return nodeid;
}

static int getattr(struct fs_server *s, uint64_t nodeid, struct fuse_attr *attr) {
  const uint8_t *body;
  int e = call(s, FUSE_GETATTR, nodeid, &(struct fuse_getattr_in){0}, sizeof(struct fuse_getattr_in), NULL, NULL, &body);
  struct fuse_attr_out out = {0};
  if (!e) memcpy(&out, body, sizeof out);
  *attr = out.attr;
  return e;
}

static int read_fh(struct fs_server *s, uint64_t nodeid, uint64_t fh, char *text, size_t cap) {
  const uint8_t *body;
  size_t len;
  static uint8_t req[128];
  size_t n = build(req, FUSE_READ, nodeid, &(struct fuse_read_in){.fh = fh, .size = (uint32_t)cap - 1}, sizeof(struct fuse_read_in), NULL, NULL);
  int e = send_bytes(s, req, n, OUT_SIZE, &body, &len);
  if (!e) memcpy(text, body, len);
  text[e ? 0 : len] = '\0';
  return e;
}

/* The file's content as the guest reads it (OPEN, READ, RELEASE), or the error. */
static int read_node(struct fs_server *s, uint64_t nodeid, char *text, size_t cap) {
  uint64_t fh;
  text[0] = '\0';
  int e = open_node(s, nodeid, O_RDONLY, &fh);
  if (e) return e;
  e = read_fh(s, nodeid, fh, text, cap);
  CHECK(call(s, FUSE_RELEASE, nodeid, &(struct fuse_release_in){.fh = fh}, sizeof(struct fuse_release_in), NULL, NULL, NULL) == 0);
  return e;
}

static bool reads(struct fs_server *s, uint64_t nodeid, const char *want) {
  char got[256];
  return read_node(s, nodeid, got, sizeof got) == 0 && !strcmp(got, want);
}

static int forget(struct fs_server *s, uint64_t nodeid, uint64_t n) {
  return call(s, FUSE_FORGET, nodeid, &(struct fuse_forget_in){.nlookup = n}, sizeof(struct fuse_forget_in), NULL, NULL, NULL);
}

/* Looks up CHURN other files: every inode looked up before has lost its descriptor after. */
static void churn(struct fs_server *s) {
  uint64_t dir = must_lookup(s, 1, "churn");
  for (int i = 0; i < CHURN; i++) must_lookup(s, dir, str("%d", i));
}

static bool evicted(const struct fs_server *s, uint64_t nodeid) { return s->inodes.slots[nodeid].fd < 0; }

/* 500 files through 8 descriptors: each is re-opened when used, and FORGET gives them all back. */
static void test_bounded(void) {
  mkdir(host("many"), 0755);
  for (int i = 0; i < MANY; i++) write_file(host(str("many/f%d", i)), str("content of %d", i));
  struct fs_server *s = server_with(SMALL_CACHE);
  int baseline = open_fds();
  uint64_t dir = must_lookup(s, 1, "many"), ids[MANY];
  for (int i = 0; i < MANY; i++) ids[i] = must_lookup(s, dir, str("f%d", i));
  CHECK(open_fds() <= baseline + SMALL_CACHE + PINNED_SLACK);
  int good = 0;
  for (int i = 0; i < MANY; i++) {
    struct fuse_attr attr;
    struct stat st;
    good += getattr(s, ids[i], &attr) == 0 && stat(host(str("many/f%d", i)), &st) == 0 && attr.ino == st.st_ino &&
            reads(s, ids[i], str("content of %d", i));
  }
  CHECK(good == MANY);
  CHECK(open_fds() <= baseline + SMALL_CACHE + PINNED_SLACK && s->inodes.fds <= SMALL_CACHE + PINNED_SLACK);
  /* Half forgotten one by one, half in one BATCH_FORGET: the table is the root alone again. */
  for (int i = 0; i < MANY / 2; i++) CHECK(forget(s, ids[i], 1) == 1);
  struct {
    struct fuse_batch_forget_in in;
    struct fuse_forget_one one[MANY / 2];
  } batch = {.in.count = MANY / 2};
  for (int i = 0; i < MANY / 2; i++) batch.one[i] = (struct fuse_forget_one){.nodeid = ids[MANY / 2 + i], .nlookup = 1};
  CHECK(call(s, FUSE_BATCH_FORGET, 0, &batch, sizeof batch, NULL, NULL, NULL) == 1);
  CHECK(s->inodes.used == 2); /* the root and the directory, which the guest still holds */
  CHECK(forget(s, dir, 1) == 1);
  CHECK(s->inodes.used == 1 && s->inodes.fds == 0 && s->inodes.lru_head == 0 && open_fds() == baseline);
  fs_server_free(s);
}

/*
 * Once evicted, an inode the host moved, replaced or swapped a symlink in for answers ESTALE,
 * never another file's data; a symlink swapped in for its parent never leads the re-open out of
 * the share.
 */
static void test_host_changes(void) {
  mkdir(host("h"), 0755);
  mkdir(host("h/dir"), 0755);
  write_file(host("h/moved"), "moved");
  write_file(host("h/replaced"), "replaced");
  write_file(host("h/swapped"), "swapped");
  write_file(host("h/dir/f"), "inside");
  write_file(str("%s/f", outside), "the secret");
  struct fs_server *s = server_with(1);
  uint64_t h = must_lookup(s, 1, "h");
  uint64_t moved = must_lookup(s, h, "moved"), replaced = must_lookup(s, h, "replaced");
  uint64_t swapped = must_lookup(s, h, "swapped"), dir = must_lookup(s, h, "dir"), inside = must_lookup(s, dir, "f");
  churn(s);
  CHECK(evicted(s, h) && evicted(s, moved) && evicted(s, replaced) && evicted(s, swapped) && evicted(s, dir) &&
        evicted(s, inside));
  struct fuse_attr attr;
  char text[256];
  CHECK(rename(host("h/moved"), host("h/moved2")) == 0);
  CHECK(getattr(s, moved, &attr) == -ESTALE && read_node(s, moved, text, sizeof text) == -ESTALE);
  /* Removed, then made again under the name: ext4 gives the new file the old one's inode number. */
  CHECK(unlink(host("h/replaced")) == 0);
  write_file(host("h/replaced"), "another file");
  CHECK(getattr(s, replaced, &attr) == -ESTALE && read_node(s, replaced, text, sizeof text) == -ESTALE);
  uint64_t again = must_lookup(s, h, "replaced");
  CHECK(again != replaced && reads(s, again, "another file"));
  CHECK(getattr(s, replaced, &attr) == -ESTALE && read_node(s, replaced, text, sizeof text) == -ESTALE);
  /* The table grown and the stale nodeid forgotten, the new inode is still found under its number. */
  for (int i = 0; i < 64; i++) write_file(host(str("h/g%d", i)), "");
  for (int i = 0; i < 64; i++) must_lookup(s, h, str("g%d", i));
  CHECK(forget(s, replaced, 1) == 1 && must_lookup(s, h, "replaced") == again && reads(s, again, "another file"));
  CHECK(symlink(str("%s/f", outside), host("h/link")) == 0 && rename(host("h/link"), host("h/swapped")) == 0);
  CHECK(getattr(s, swapped, &attr) == -ESTALE && read_node(s, swapped, text, sizeof text) == -ESTALE);
  CHECK(rename(host("h/dir"), host("h/dir.real")) == 0 && symlink(outside, host("h/dir")) == 0);
  CHECK(read_node(s, inside, text, sizeof text) == -ESTALE && strcmp(text, "the secret"));
  int e;
  CHECK(lookup(s, dir, "f", &e) == 0 && e == -ESTALE);
  fs_server_free(s);
}

/* A file four evicted directories down is re-opened through each of them, even once the guest forgot them. */
static void test_parent_chain(void) {
  mkdir(host("a"), 0755);
  mkdir(host("a/b"), 0755);
  mkdir(host("a/b/c"), 0755);
  mkdir(host("a/b/c/d"), 0755);
  write_file(host("a/b/c/d/file"), "deep");
  struct fs_server *s = server_with(2);
  int baseline = open_fds();
  uint64_t dirs[4], parent = 1;
  for (int i = 0; i < 4; i++) parent = dirs[i] = must_lookup(s, parent, str("%c", 'a' + i));
  uint64_t file = must_lookup(s, parent, "file");
  churn(s);
  for (int i = 0; i < 4; i++) CHECK(evicted(s, dirs[i]) && forget(s, dirs[i], 1) == 1);
  CHECK(evicted(s, file) && reads(s, file, "deep"));
  struct fuse_attr attr;
  struct stat st;
  CHECK(getattr(s, file, &attr) == 0 && stat(host("a/b/c/d/file"), &st) == 0 && attr.ino == st.st_ino);
  CHECK(open_fds() <= baseline + 2 + PINNED_SLACK);
  /* Forgetting the file frees its ancestors too: nothing else names them. */
  uint32_t used = s->inodes.used;
  CHECK(forget(s, file, 1) == 1 && s->inodes.used == used - 5);
  fs_server_free(s);
}

static int unlink_name(struct fs_server *s, uint64_t dir, const char *name) {
  return call(s, FUSE_UNLINK, dir, NULL, 0, name, NULL, NULL);
}

/* An inode whose name the guest removed cannot be re-opened by it: it keeps its descriptor. */
static void test_unnamed(void) {
  mkdir(host("u"), 0755);
  for (const char **n = (const char *[]){"held", "open", "evicted", "mover", "victim", NULL}; *n; n++)
    write_file(host(str("u/%s", *n)), *n);
  struct fs_server *s = server_with(2);
  uint64_t u = must_lookup(s, 1, "u");
  uint64_t held = must_lookup(s, u, "held");
  CHECK(unlink_name(s, u, "held") == 0);
  churn(s);
  struct fuse_attr attr;
  CHECK(!evicted(s, held) && getattr(s, held, &attr) == 0 && attr.nlink == 0 && reads(s, held, "held"));
  /* Evicted before its name is removed: re-opened first, then kept. */
  uint64_t open = must_lookup(s, u, "open"), fh;
  CHECK(open_node(s, open, O_RDONLY, &fh) == 0);
  uint64_t gone = must_lookup(s, u, "evicted");
  churn(s);
  CHECK(evicted(s, open) && evicted(s, gone));
  CHECK(unlink_name(s, u, "open") == 0 && unlink_name(s, u, "evicted") == 0);
  churn(s);
  char text[64];
  CHECK(read_fh(s, open, fh, text, sizeof text) == 0 && !strcmp(text, "open"));
  CHECK(getattr(s, open, &attr) == 0 && attr.nlink == 0);
  CHECK(getattr(s, gone, &attr) == 0 && attr.nlink == 0 && reads(s, gone, "evicted"));
  /* A rename between evicted inodes: the moved one is found under its new name, the replaced one kept. */
  uint64_t mover = must_lookup(s, u, "mover"), victim = must_lookup(s, u, "victim");
  churn(s);
  struct fuse_rename_in ren = {.newdir = u};
  CHECK(call(s, FUSE_RENAME, u, &ren, sizeof ren, "mover", "victim", NULL) == 0);
  churn(s);
  CHECK(reads(s, mover, "mover") && reads(s, victim, "victim") && getattr(s, victim, &attr) == 0 && attr.nlink == 0);
  /* Forgotten, an unnamed inode gives its descriptor back. */
  int before = open_fds();
  CHECK(forget(s, held, 1) == 1 && forget(s, gone, 1) == 1 && forget(s, victim, 1) == 1);
  CHECK(open_fds() == before - 3);
  fs_server_free(s);
}

/*
 * With one descriptor for the whole table, RENAME, RENAME_EXCHANGE and LINK between inodes in
 * evicted directories still work: what a request took stays open until the next one.
 */
static void test_request_pin(void) {
  mkdir(host("x"), 0755);
  mkdir(host("y"), 0755);
  write_file(host("x/p"), "pee");
  write_file(host("y/q"), "queue");
  struct fs_server *s = server_with(1);
  uint64_t x = must_lookup(s, 1, "x"), y = must_lookup(s, 1, "y");
  uint64_t p = must_lookup(s, x, "p"), q = must_lookup(s, y, "q");
  churn(s);
  struct fuse_rename2_in swap = {.newdir = y, .flags = RENAME_EXCHANGE};
  CHECK(call(s, FUSE_RENAME2, x, &swap, sizeof swap, "p", "q", NULL) == 0);
  churn(s);
  CHECK(reads(s, p, "pee") && reads(s, q, "queue"));
  struct stat st;
  CHECK(stat(host("y/q"), &st) == 0 && st.st_size == 3); /* p's inode is y/q now, q's x/p */
  churn(s);
  struct fuse_rename_in ren = {.newdir = x};
  CHECK(call(s, FUSE_RENAME, y, &ren, sizeof ren, "q", "moved", NULL) == 0);
  churn(s);
  CHECK(call(s, FUSE_LINK, y, &(struct fuse_link_in){.oldnodeid = q}, sizeof(struct fuse_link_in), "linked", NULL, NULL) == 0);
  struct stat linked;
  CHECK(stat(host("x/p"), &st) == 0 && stat(host("y/linked"), &linked) == 0 && st.st_ino == linked.st_ino);
  churn(s);
  CHECK(reads(s, p, "pee") && reads(s, q, "queue"));
  /* Within one request, a descriptor taken stays the same inode while others are re-opened. */
  inodes_next_request(&s->inodes);
  int fd = inodes_fd(&s->inodes, p);
  CHECK(fd >= 0 && inodes_fd(&s->inodes, q) >= 0 && inodes_fd(&s->inodes, x) >= 0 && inodes_fd(&s->inodes, y) >= 0);
  CHECK(fstat(fd, &st) == 0 && stat(host("x/moved"), &linked) == 0 && st.st_ino == linked.st_ino);
  fs_server_free(s);
}

int main(void) {
  umask(0);
  char outer[] = "/tmp/fsd-fdcache-XXXXXX";
  CHECK(mkdtemp(outer) != NULL);
  snprintf(root, sizeof root, "%s/share", outer);
  snprintf(outside, sizeof outside, "%s/outside", outer);
  mkdir(root, 0755);
  mkdir(outside, 0755);
  mkdir(host("churn"), 0755);
  for (int i = 0; i < CHURN; i++) write_file(host(str("churn/%d", i)), "churn");
  test_bounded();
  test_host_changes();
  test_parent_chain();
  test_unnamed();
  test_request_pin();
  char rm[160];
  snprintf(rm, sizeof rm, "rm -rf %s", outer);
  CHECK(system(rm) == 0);
  return test_finish("test_fd_cache");
}
