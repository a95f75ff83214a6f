/*
 * FILES_IN's rules (docs/guest-protocol.md, "Copying files"): where the tar goes, what it
 * may replace, and what it may never do: leave the destination, write through a symlink
 * it made, or pass a corrupt or truncated tar as a success.
 */
#include "test_files.h"

static struct files_result res;

/* A tar of one directory t (t/x.txt, t/sub/y.txt), of its contents, and of one file f.txt. */
struct tars {
  int dir, contents, file;
};

static struct tars make_tars(void) {
  struct root s;
  root_make(&s);
  put_text(s.fd, "t/x.txt", "x");
  put_text(s.fd, "t/sub/y.txt", "y");
  put_text(s.fd, "f.txt", "new file");
  struct tars t = {tar_of(s.fd, "/t", true, false, &res), tar_of(s.fd, "/t", false, false, &res),
                   tar_of(s.fd, "/f.txt", true, false, &res)};
  root_remove(&s);
  return t;
}

static void close_tars(struct tars *t) { close(t->dir), close(t->contents), close(t->file); }

static void test_contents_true_extracts_into_path(void) {
  struct tars t = make_tars();
  struct root d;
  root_make(&d);
  put_text(d.fd, "c1/old", "old");
  CHECK(extract(d.fd, "/c1", true, false, t.contents, &res) == FILES_OK);
  CHECK(text_is(d.fd, "c1/x.txt", "x") && text_is(d.fd, "c1/sub/y.txt", "y") && text_is(d.fd, "c1/old", "old"));
  /* A missing path is created, not its parents. */
  CHECK(extract(d.fd, "/c2", true, false, t.contents, &res) == FILES_OK && text_is(d.fd, "c2/x.txt", "x"));
  CHECK(extract(d.fd, "/nope/c3", true, false, t.contents, &res) == FILES_MISSING && !exists(d.fd, "nope"));
  CHECK_STR(res.error, "/nope/c3: \"nope\" does not exist");
  /* Onto a file: refused. */
  put_text(d.fd, "afile", "keep");
  CHECK(extract(d.fd, "/afile", true, false, t.contents, &res) == FILES_REFUSED && text_is(d.fd, "afile", "keep"));
  /* The tar of a directory with its parent lands as one subdirectory. */
  CHECK(extract(d.fd, "/c4", true, false, t.dir, &res) == FILES_OK && text_is(d.fd, "c4/t/sub/y.txt", "y"));
  /* "./" names are the destination itself. */
  int tar = tar_new();
  tar_add(tar, TAR_DIR, "./", NULL, NULL, 0700);
  tar_add(tar, TAR_FILE, "./a", NULL, "dot", 0644);
  tar_end(tar);
  CHECK(extract(d.fd, "/c5", true, false, tar, &res) == FILES_OK && text_is(d.fd, "c5/a", "dot"));
  close(tar);
  close_tars(&t);
  root_remove(&d);
}

static void test_contents_false_places_one_top_level_name(void) {
  struct tars t = make_tars();
  struct root d;
  root_make(&d);
  /* path is a directory: T goes into it. */
  put_dir(d.fd, "into", 0755);
  CHECK(extract(d.fd, "/into", false, false, t.dir, &res) == FILES_OK && text_is(d.fd, "into/t/sub/y.txt", "y"));
  /* path does not exist: T is extracted under basename(path). */
  CHECK(extract(d.fd, "/renamed", false, false, t.dir, &res) == FILES_OK);
  CHECK(text_is(d.fd, "renamed/x.txt", "x") && text_is(d.fd, "renamed/sub/y.txt", "y") && !exists(d.fd, "renamed/t"));
  CHECK(extract(d.fd, "/into/new.txt", false, false, t.file, &res) == FILES_OK);
  CHECK(text_is(d.fd, "into/new.txt", "new file"));
  /* path is a file and T a file: replaced (a new inode; the old one is not written). */
  put_text(d.fd, "existing.txt", "old");
  CHECK(linkat(d.fd, "existing.txt", d.fd, "other-name", 0) == 0);
  CHECK(extract(d.fd, "/existing.txt", false, false, t.file, &res) == FILES_OK);
  CHECK(text_is(d.fd, "existing.txt", "new file") && text_is(d.fd, "other-name", "old"));
  /* path is a file and T a directory: refused, the file stays. */
  put_text(d.fd, "plain", "keep");
  CHECK(extract(d.fd, "/plain", false, false, t.dir, &res) == FILES_REFUSED && text_is(d.fd, "plain", "keep"));
  /* T a file where path/T is a directory: refused too. */
  put_dir(d.fd, "holder/f.txt", 0755);
  CHECK(extract(d.fd, "/holder", false, false, t.file, &res) == FILES_REFUSED);
  CHECK_STR(res.error, "refusing to replace directory \"f.txt\" with a non-directory");
  /* The parent of a missing path must exist; a file on the way is a missing path too. */
  CHECK(extract(d.fd, "/missing/parent/x", false, false, t.file, &res) == FILES_MISSING);
  CHECK_STR(res.error, "/missing/parent/x: \"missing\" does not exist");
  CHECK(extract(d.fd, "/plain/x", false, false, t.file, &res) == FILES_MISSING);
  /* A symlink to a directory is that directory; a symlink to a file is replaced, not followed. */
  put_dir(d.fd, "real", 0755);
  put_symlink(d.fd, "viadir", "real");
  CHECK(extract(d.fd, "/viadir", false, false, t.file, &res) == FILES_OK && text_is(d.fd, "real/f.txt", "new file"));
  put_text(d.fd, "target.txt", "keep");
  put_symlink(d.fd, "tolink", "target.txt");
  CHECK(extract(d.fd, "/tolink", false, false, t.file, &res) == FILES_OK);
  CHECK(text_is(d.fd, "tolink", "new file") && text_is(d.fd, "target.txt", "keep"));
  /* "/" is a directory like any other. */
  CHECK(extract(d.fd, "/", false, false, t.dir, &res) == FILES_OK && text_is(d.fd, "t/x.txt", "x"));
  /* More than one top-level name: not a single T. */
  int tar = tar_new();
  tar_add(tar, TAR_FILE, "a.txt", NULL, "a", 0644);
  tar_add(tar, TAR_FILE, "b.txt", NULL, "b", 0644);
  tar_end(tar);
  CHECK(extract(d.fd, "/multi", false, false, tar, &res) == FILES_FAILED);
  CHECK_STR(res.error, "the tar has more than one top-level name (\"a.txt\" and \"b.txt\")");
  close(tar);
  close_tars(&t);
  root_remove(&d);
}

static void test_no_overwrite(void) {
  struct tars t = make_tars();
  struct root d;
  root_make(&d);
  put_text(d.fd, "dir/f.txt", "old");
  CHECK(extract(d.fd, "/dir", false, true, t.file, &res) == FILES_REFUSED && text_is(d.fd, "dir/f.txt", "old"));
  CHECK_STR(res.error, "refusing to replace \"f.txt\" (no_overwrite)");
  put_symlink(d.fd, "dir2/f.txt", "elsewhere");
  CHECK(extract(d.fd, "/dir2", false, true, t.file, &res) == FILES_REFUSED);
  CHECK(extract(d.fd, "/dir/f.txt", false, true, t.file, &res) == FILES_REFUSED && text_is(d.fd, "dir/f.txt", "old"));
  /* Directories merge: new files land next to the old ones. */
  put_text(d.fd, "merge/t/keep.txt", "keep");
  CHECK(extract(d.fd, "/merge", false, true, t.dir, &res) == FILES_OK);
  CHECK(text_is(d.fd, "merge/t/keep.txt", "keep") && text_is(d.fd, "merge/t/x.txt", "x"));
  /* Without it, the same file is replaced. */
  CHECK(extract(d.fd, "/dir", false, false, t.file, &res) == FILES_OK && text_is(d.fd, "dir/f.txt", "new file"));
  close_tars(&t);
  root_remove(&d);
}

/* The destination is root/dst; root/outside holds a file that must stay as it is. */
static int hostile(int tar, bool contents, const char *dest) {
  struct root r;
  root_make(&r);
  put_dir(r.fd, "dst", 0755);
  put_text(r.fd, "outside/secret", "secret");
  int code = extract(r.fd, dest, contents, false, tar, &res);
  CHECK(!exists(r.fd, "x") && !exists(r.fd, "etc") && !exists(r.fd, "evil") && !exists(r.fd, "outside/x"));
  CHECK(text_is(r.fd, "outside/secret", "secret") && !exists(r.fd, "dst/h"));
  struct stat st;
  CHECK(fstatat(r.fd, "outside/secret", &st, 0) == 0 && st.st_nlink == 1);
  root_remove(&r);
  close(tar);
  return code;
}

static int hostile_tar(const char *name, char type, const char *link) {
  int tar = tar_new();
  tar_add(tar, type, name, link, type == TAR_FILE ? "pwned" : NULL, 0644);
  tar_end(tar);
  return tar;
}

/* A symlink from the tar, then an entry through it. */
static int through_link(const char *target, const char *name, char type) {
  int tar = tar_new();
  tar_add(tar, TAR_SYMLINK, "link", target, NULL, 0777);
  tar_add(tar, type, name, NULL, type == TAR_FILE ? "pwned" : NULL, 0755);
  tar_end(tar);
  return tar;
}

static void test_hostile_tars_are_refused(void) {
  CHECK(access("/etc/x", F_OK) < 0 && access("/x", F_OK) < 0);
  CHECK(hostile(hostile_tar("../x", TAR_FILE, NULL), true, "/dst") == FILES_REFUSED);
  CHECK_STR(res.error, "refusing entry \"../x\": it has a \"..\" component");
  CHECK(hostile(hostile_tar("a/../../x", TAR_FILE, NULL), true, "/dst") == FILES_REFUSED);
  CHECK(hostile(hostile_tar("/etc/x", TAR_FILE, NULL), true, "/dst") == FILES_REFUSED);
  CHECK_STR(res.error, "refusing entry \"/etc/x\": absolute name");
  CHECK(hostile(hostile_tar("..", TAR_DIR, NULL), true, "/dst") == FILES_REFUSED);
  CHECK(hostile(through_link("/", "link/etc/x", TAR_FILE), true, "/dst") == FILES_REFUSED);
  CHECK_STR(res.error, "link/etc/x: \"link\" is a symbolic link from this tar");
  CHECK(hostile(through_link("../outside", "link/x", TAR_FILE), true, "/dst") == FILES_REFUSED);
  CHECK(hostile(through_link("..", "link/", TAR_DIR), true, "/dst") == FILES_REFUSED);
  CHECK(hostile(through_link(".", "link/link/x", TAR_FILE), true, "/dst") == FILES_REFUSED);
  CHECK(hostile(hostile_tar("h", TAR_HARDLINK, "../outside/secret"), true, "/dst") == FILES_REFUSED);
  CHECK(hostile(hostile_tar("h", TAR_HARDLINK, "/outside/secret"), true, "/dst") == FILES_REFUSED);
  CHECK(access("/etc/x", F_OK) < 0 && access("/x", F_OK) < 0);

  /* A hard link to the tar's symlink is that symlink. */
  int tar = tar_new();
  tar_add(tar, TAR_SYMLINK, "s", "/", NULL, 0777);
  tar_add(tar, TAR_HARDLINK, "s2", "s", NULL, 0);
  tar_add(tar, TAR_FILE, "s2/etc/x", NULL, "pwned", 0644);
  tar_end(tar);
  CHECK(hostile(tar, true, "/dst") == FILES_REFUSED);
  /* With contents: false, a link outside T is outside the copy. */
  tar = tar_new();
  tar_add(tar, TAR_FILE, "t/a", NULL, "a", 0644);
  tar_add(tar, TAR_HARDLINK, "t/h", "outside/secret", NULL, 0);
  tar_end(tar);
  CHECK(hostile(tar, false, "/") == FILES_REFUSED);
  CHECK_STR(res.error, "refusing a hard link to \"outside/secret\", outside the copy");
  /* Long names from pax and GNU headers are checked like any other. */
  tar = tar_new();
  tar_add_ext(tar, TAR_PAX, "18 path=../evil/x\n", 18);
  tar_add(tar, TAR_FILE, "harmless", NULL, "pwned", 0644);
  tar_end(tar);
  CHECK(hostile(tar, true, "/dst") == FILES_REFUSED);
  tar = tar_new();
  tar_add_ext(tar, TAR_GNU_LONGNAME, "../evil/x", 10);
  tar_add(tar, TAR_FILE, "harmless", NULL, "pwned", 0644);
  tar_end(tar);
  CHECK(hostile(tar, true, "/dst") == FILES_REFUSED);
  tar = tar_new();
  tar_add_ext(tar, TAR_GNU_LONGLINK, "../outside/secret", 18);
  tar_add(tar, TAR_HARDLINK, "h", "harmless", NULL, 0);
  tar_end(tar);
  CHECK(hostile(tar, true, "/dst") == FILES_REFUSED);
}

static void test_symlinks_are_replaced_never_written_through(void) {
  struct root r;
  root_make(&r);
  put_text(r.fd, "outside/target", "keep");
  int tar = tar_new();
  tar_add(tar, TAR_SYMLINK, "s", "../outside/target", NULL, 0777);
  tar_add(tar, TAR_FILE, "s", NULL, "replaced", 0644);
  tar_end(tar);
  CHECK(extract(r.fd, "/dst", true, false, tar, &res) == FILES_OK);
  CHECK(text_is(r.fd, "dst/s", "replaced") && text_is(r.fd, "outside/target", "keep"));
  close(tar);
  /* A symlink the box already had is followed, but inside the root: "/" is the root. */
  put_symlink(r.fd, "dst/pre", "/../../outside");
  tar = hostile_tar("pre/x", TAR_FILE, NULL);
  CHECK(extract(r.fd, "/dst", true, false, tar, &res) == FILES_OK && text_is(r.fd, "outside/x", "pwned"));
  CHECK(access("/outside/x", F_OK) < 0);
  close(tar);
  /* Symlinks that loop end the lookup. */
  put_symlink(r.fd, "dst/loop", "loop");
  tar = hostile_tar("loop/x", TAR_FILE, NULL);
  CHECK(extract(r.fd, "/dst", true, false, tar, &res) == FILES_REFUSED);
  close(tar);
  root_remove(&r);
}

/* The round-trip tar of a 1 MiB file, cut to n bytes (or whole when n is 0). */
static int cut_tar(size_t n) {
  struct root s;
  root_make(&s);
  static char big[1 << 20];
  memset(big, 'b', sizeof big);
  put_file(s.fd, "big", big, sizeof big, 0644);
  struct files_result out;
  int whole = tar_of(s.fd, "/big", true, false, &out);
  root_remove(&s);
  if (n == 0) return whole;
  CHECK(ftruncate(whole, (off_t)n) == 0);
  return whole;
}

static void test_corrupt_tars_fail(void) {
  struct root d;
  root_make(&d);
  int tar = cut_tar(0);
  off_t size = lseek(tar, 0, SEEK_END);
  CHECK(extract(d.fd, "/whole", false, false, tar, &res) == FILES_OK);
  close(tar);
  static const size_t cuts[] = {100, TAR_BLOCK, TAR_BLOCK + 70000, (1 << 20) + TAR_BLOCK - 1};
  for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
    tar = cut_tar(cuts[i]);
    CHECK(extract(d.fd, "/cut", false, false, tar, &res) == FILES_FAILED);
    CHECK_STR(res.error, "the tar is truncated");
    close(tar);
  }
  /* Without its end-of-archive blocks the tar is truncated too. */
  tar = cut_tar((size_t)size - 2 * TAR_BLOCK);
  CHECK(extract(d.fd, "/cut", false, false, tar, &res) == FILES_FAILED);
  close(tar);
  /* A bad checksum, a bad number, an unknown type, an oversized pax header, bad pax records. */
  uint8_t block[TAR_BLOCK];
  tar = hostile_tar("f", TAR_FILE, NULL);
  CHECK(pread(tar, block, sizeof block, 0) == (ssize_t)sizeof block);
  block[0] ^= 1;
  CHECK(pwrite(tar, block, sizeof block, 0) == (ssize_t)sizeof block);
  CHECK(extract(d.fd, "/bad", false, false, tar, &res) == FILES_FAILED);
  CHECK_STR(res.error, "corrupt tar: bad header checksum");
  close(tar);
  tar = hostile_tar("sparse", 'S', NULL);
  CHECK(extract(d.fd, "/bad", false, false, tar, &res) == FILES_FAILED);
  CHECK_STR(res.error, "unsupported entry type 'S' (\"sparse\")");
  close(tar);
  static const char *const bad_pax[] = {"12 path=x\n", "7 path=x", "x path=y\n", "11 novalue\n",
                                        "20 GNU.sparse.map=1\n", "12 size=-12\n"};
  for (size_t i = 0; i < sizeof bad_pax / sizeof *bad_pax; i++) {
    tar = tar_new();
    tar_add_ext(tar, TAR_PAX, bad_pax[i], strlen(bad_pax[i]));
    tar_add(tar, TAR_FILE, "f", NULL, "data", 0644);
    tar_end(tar);
    CHECK(extract(d.fd, "/bad", false, false, tar, &res) == FILES_FAILED);
    CHECK(strncmp(res.error, "corrupt tar: ", 13) == 0);
    close(tar);
  }
  tar = tar_new();
  static char huge[TAR_PAX_MAX + 1];
  memset(huge, 'x', sizeof huge);
  tar_add_ext(tar, TAR_PAX, huge, sizeof huge);
  tar_end(tar);
  CHECK(extract(d.fd, "/bad", false, false, tar, &res) == FILES_FAILED);
  close(tar);
  CHECK(!exists(d.fd, "bad"));
  root_remove(&d);
}

static int extract_as_file(int rootfd, const char *path, bool no_overwrite, int tar) {
  struct files_spec spec = {.path = path, .as_file = true, .no_overwrite = no_overwrite};
  lseek(tar, 0, SEEK_SET);
  return files_in(rootfd, &spec, tar, &res);
}

/* Whether dir holds exactly one entry, name. */
static bool only_entry(int dirfd, const char *dir, const char *name) {
  int fd = openat(dirfd, dir, O_RDONLY | O_DIRECTORY);
  bool ok = fd >= 0 && count_names(fd) == 1;
  if (fd >= 0) close(fd);
  char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return ok && exists(dirfd, path);
}

static void test_as_file_writes_one_file_as_path(void) {
  struct tars t = make_tars();
  struct root d;
  root_make(&d);
  put_dir(d.fd, "a", 0755);
  /* One file, path missing: it becomes path (not a directory of that name). */
  CHECK(extract_as_file(d.fd, "/a/named.txt", false, t.file) == FILES_OK && text_is(d.fd, "a/named.txt", "new file"));
  /* Path a file: replaced; refused with no_overwrite, and nothing is left behind. */
  put_text(d.fd, "a/old.txt", "old");
  CHECK(extract_as_file(d.fd, "/a/old.txt", true, t.file) == FILES_REFUSED && text_is(d.fd, "a/old.txt", "old"));
  CHECK(extract_as_file(d.fd, "/a/old.txt", false, t.file) == FILES_OK && text_is(d.fd, "a/old.txt", "new file"));
  /* Path a directory: the file goes into it under its own name. */
  put_dir(d.fd, "dir", 0755);
  CHECK(extract_as_file(d.fd, "/dir", false, t.file) == FILES_OK && text_is(d.fd, "dir/f.txt", "new file"));
  /* A tar of a directory, or of a directory's contents: extracted into path, created when missing. */
  CHECK(extract_as_file(d.fd, "/tree", false, t.dir) == FILES_OK && text_is(d.fd, "tree/t/sub/y.txt", "y"));
  CHECK(extract_as_file(d.fd, "/flat", false, t.contents) == FILES_OK && text_is(d.fd, "flat/x.txt", "x"));
  /* Several top-level files: path becomes a directory holding them all, the first one included. */
  int tar = tar_new();
  tar_add(tar, TAR_FILE, "./one", NULL, "1", 0644);
  tar_add(tar, TAR_FILE, "two", NULL, "2", 0644);
  tar_end(tar);
  CHECK(extract_as_file(d.fd, "/several", false, tar) == FILES_OK);
  CHECK(text_is(d.fd, "several/one", "1") && text_is(d.fd, "several/two", "2"));
  /* ... but never over a file: refused, the file kept, no temporary left in its directory. */
  put_text(d.fd, "b/keep", "keep");
  CHECK(extract_as_file(d.fd, "/b/keep", false, tar) == FILES_REFUSED && text_is(d.fd, "b/keep", "keep"));
  CHECK(only_entry(d.fd, "b", "keep"));
  CHECK_STR(res.error, "cannot extract several entries into /b/keep: not a directory");
  close(tar);
  /* A missing parent is a missing path, as with contents: false. */
  CHECK(extract_as_file(d.fd, "/nope/f.txt", false, t.file) == FILES_MISSING && !exists(d.fd, "nope"));
  close_tars(&t);
  root_remove(&d);
}

int main(void) {
  umask(022);
  test_as_file_writes_one_file_as_path();
  test_contents_true_extracts_into_path();
  test_contents_false_places_one_top_level_name();
  test_no_overwrite();
  test_hostile_tars_are_refused();
  test_symlinks_are_replaced_never_written_through();
  test_corrupt_tars_fail();
  return test_finish("test_files_in");
}
