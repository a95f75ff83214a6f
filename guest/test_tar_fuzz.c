/*
 * The tar reader under random input (fixed seed): mutated and random header blocks, pax
 * records, and whole mutated tars extracted into a temporary root. Nothing may crash
 * (ASan/UBSan), decoded fields stay in range, and no extraction writes outside its
 * destination, whatever it returns.
 */
#include "test_files.h"

static void fix_checksum(uint8_t *b) {
  memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < TAR_BLOCK; i++) sum += b[i];
  snprintf((char *)b + 148, 8, "%06o", sum);
}

static void random_entry(struct tar_entry *e) {
  static const char types[] = {'0', '1', '2', '3', '4', '5', '6', '7', 'x', 'g', 'L', 'K', 'S', '\0'};
  memset(e, 0, sizeof *e);
  e->type = types[pick(sizeof types)];
  size_t n = pick(4) ? pick(60) : pick(400);
  for (size_t i = 0; i < n; i++) e->name[i] = "ab/./..x"[pick(8)];
  n = pick(3) ? 0 : pick(300);
  for (size_t i = 0; i < n; i++) e->linkname[i] = "/.tz"[pick(4)];
  e->size = pick(4) ? pick(5000) : test_rand(&test_rng) >> pick(64);
  e->mode = (uint32_t)pick(010000);
  e->uid = (uint32_t)test_rand(&test_rng) >> pick(32);
  e->mtime = (int64_t)(test_rand(&test_rng) >> pick(64)) * (pick(2) ? 1 : -1);
}

/* The largest headers tar_encode can write fit in TAR_ENCODE_MAX (ASan sees the heap
 * buffer's end), and every field comes back through pax. */
static void encode_limits(void) {
  static struct tar_entry e, back, over;
  memset(&e, 0, sizeof e);
  e.type = TAR_SYMLINK;
  memset(e.name, 'n', TAR_NAME_MAX);
  memset(e.linkname, 'l', TAR_NAME_MAX);
  e.size = 1ull << 40;
  e.uid = e.gid = UINT32_MAX;
  e.mtime = -1000000000000;
  e.mode = 07777;
  uint8_t *out = malloc(TAR_ENCODE_MAX);
  size_t len = tar_encode(&e, out);
  CHECK(len <= TAR_ENCODE_MAX && len % TAR_BLOCK == 0);
  const char *why;
  unsigned set = 0;
  CHECK(tar_decode(out, &back, &why) == TAR_DECODED_ENTRY && back.type == TAR_PAX);
  CHECK(tar_parse_pax((const char *)out + TAR_BLOCK, (size_t)back.size, &over, &set, &why) == 0);
  CHECK(tar_decode(out + len - TAR_BLOCK, &back, &why) == TAR_DECODED_ENTRY);
  tar_apply(&back, &over, set);
  CHECK(strcmp(back.name, e.name) == 0 && strcmp(back.linkname, e.linkname) == 0 && back.size == e.size);
  CHECK(back.uid == e.uid && back.gid == e.gid && back.mtime == e.mtime && back.mode == e.mode);
  free(out);
}

static void fuzz_headers(void) {
  static struct tar_entry e, out;
  static uint8_t buf[TAR_ENCODE_MAX];
  bool ok = true;
  for (int round = 0; round < 100000; round++) {
    random_entry(&e);
    size_t len = tar_encode(&e, buf);
    uint8_t *block = buf + len - TAR_BLOCK; /* the ustar header, after any pax header */
    for (int flips = (int)pick(6); flips > 0; flips--) block[pick(TAR_BLOCK)] ^= (uint8_t)(1u << pick(8));
    if (pick(8) == 0)
      for (size_t i = 0; i < TAR_BLOCK; i++) block[i] = (uint8_t)test_rand(&test_rng);
    if (pick(2)) fix_checksum(block);
    const char *why = NULL;
    int rc = tar_decode(block, &out, &why);
    ok = ok && (rc != -1 || why != NULL);
    if (rc == TAR_DECODED_ENTRY)
      ok = ok && strlen(out.name) <= 256 && strlen(out.linkname) <= 100 && out.mode <= 07777 && out.type != '\0';
  }
  CHECK(ok);
}

static void fuzz_pax(void) {
  static const char *const pieces[] = {"path", "linkpath", "size", "uid", "gid", "mtime", "GNU.sparse.x", "=", " ",
                                       "\n", "12", "-3", "1.5", "99999999999999999999999", "a/b", "", "\0"};
  static struct tar_entry over;
  char rec[512];
  bool ok = true;
  for (int round = 0; round < 200000; round++) {
    size_t len = 0;
    if (pick(2)) { /* a well-formed record around random pieces */
      char kv[200];
      size_t kvlen = 0;
      for (int n = (int)pick(5); n > 0; n--) {
        const char *p = pieces[pick(sizeof pieces / sizeof *pieces)];
        size_t plen = strlen(p);
        if (kvlen + plen < sizeof kv) memcpy(kv + kvlen, p, plen), kvlen += plen;
      }
      size_t base = kvlen + 2, total = base + 1; /* "LEN " + kv + "\n", LEN counting itself */
      while (total != base + (size_t)snprintf(NULL, 0, "%zu", total))
        total = base + (size_t)snprintf(NULL, 0, "%zu", total);
      len = (size_t)snprintf(rec, sizeof rec, "%zu %.*s\n", total, (int)kvlen, kv);
    } else {
      for (int n = (int)pick(8); n > 0; n--) {
        const char *p = pieces[pick(sizeof pieces / sizeof *pieces)];
        size_t plen = p[0] ? strlen(p) : 1;
        if (len + plen < sizeof rec) memcpy(rec + len, p, plen), len += plen;
      }
    }
    unsigned set = 0;
    const char *why = NULL;
    int rc = tar_parse_pax(rec, len, &over, &set, &why);
    ok = ok && (rc == 0 || why != NULL);
    if (rc == 0 && (set & TAR_SET_NAME)) ok = ok && strlen(over.name) <= TAR_NAME_MAX;
  }
  CHECK(ok);
}

/* A valid tar of a little of everything, as FILES_OUT writes it. */
static int seed_tar(void) {
  struct root s;
  struct files_result res;
  root_make(&s);
  put_text(s.fd, "t/a.txt", "aaaa");
  put_text(s.fd, "t/sub/b.txt", "bbbbbbbb");
  char name[300];
  snprintf(name, sizeof name, "t/sub/%0200d", 7);
  put_text(s.fd, name, "long");
  put_symlink(s.fd, "t/up", "..");
  put_symlink(s.fd, "t/sub/abs", "/etc");
  CHECK(linkat(s.fd, "t/a.txt", s.fd, "t/sub/hard", 0) == 0);
  CHECK(mkfifoat(s.fd, "t/fifo", 0600) == 0);
  int tar = tar_of(s.fd, "/t", true, false, &res);
  CHECK(res.code == FILES_OK);
  root_remove(&s);
  return tar;
}

static bool only_dst_and_outside(int rootfd) {
  int fd = dup(rootfd);
  DIR *d = fdopendir(fd);
  bool ok = true;
  for (struct dirent *ent; (ent = readdir(d)) != NULL;)
    ok = ok && (strcmp(ent->d_name, ".") == 0 || strcmp(ent->d_name, "..") == 0 || strcmp(ent->d_name, "dst") == 0 ||
                strcmp(ent->d_name, "outside") == 0);
  closedir(d);
  struct stat st;
  return ok && text_is(rootfd, "outside/secret", "secret") && fstatat(rootfd, "outside/secret", &st, 0) == 0 &&
         st.st_nlink == 1 && !exists(rootfd, "outside/x");
}

static void fuzz_extraction(void) {
  int seed = seed_tar();
  off_t size = lseek(seed, 0, SEEK_END);
  uint8_t *base = malloc((size_t)size), *bytes = malloc((size_t)size);
  CHECK(pread(seed, base, (size_t)size, 0) == size);
  close(seed);
  size_t headers[64], nheaders = 0;
  for (size_t off = 0; off + TAR_BLOCK <= (size_t)size && nheaders < 64; off += TAR_BLOCK)
    if (memcmp(base + off + 257, "ustar", 5) == 0) headers[nheaders++] = off;
  int codes[4] = {0};
  for (int round = 0; round < 1000; round++) {
    memcpy(bytes, base, (size_t)size);
    for (int flips = 1 + (int)pick(4); flips > 0; flips--) {
      /* Half the time in a header's name, type or link name, where the rules bite. */
      size_t header = headers[pick(nheaders)], field = pick(3);
      size_t in_header = field == 0 ? pick(100) : field == 1 ? 156 : 157 + pick(100);
      size_t at = pick(2) ? pick((size_t)size) : header + in_header;
      bytes[at] = pick(3) ? (uint8_t)(bytes[at] ^ (1u << pick(8))) : "./\0"[pick(3)];
      uint8_t *block = bytes + at / TAR_BLOCK * TAR_BLOCK;
      if (memcmp(block + 257, "ustar", 5) == 0 && pick(4)) fix_checksum(block);
    }
    size_t len = pick(10) ? (size_t)size : pick((size_t)size);
    int tar = tar_new();
    CHECK(write(tar, bytes, len) == (ssize_t)len);
    struct root r;
    root_make(&r);
    put_dir(r.fd, "dst", 0755);
    put_text(r.fd, "outside/secret", "secret");
    struct files_result res;
    int code = extract(r.fd, "/dst", pick(2), pick(4) == 0, tar, &res);
    CHECK(code >= FILES_OK && code <= FILES_REFUSED && (code == FILES_OK) == (res.error[0] == '\0'));
    codes[code >= 0 && code < 4 ? code : 1]++;
    CHECK(only_dst_and_outside(r.fd));
    if (geteuid() != 0) { /* make the tree removable whatever modes the tar gave it */
      char cmd[128];
      snprintf(cmd, sizeof cmd, "chmod -R u+rwx %s 2>/dev/null", r.path);
      CHECK(system(cmd) >= 0);
    }
    root_remove(&r);
    close(tar);
  }
  /* The mutations reach every outcome, so the invariants above were tested on each. */
  CHECK(codes[FILES_OK] > 0 && codes[FILES_FAILED] > 0 && codes[FILES_REFUSED] > 0);
  free(base);
  free(bytes);
}

int main(void) {
  umask(022);
  encode_limits();
  fuzz_headers();
  fuzz_pax();
  fuzz_extraction();
  return test_finish("test_tar_fuzz");
}
