/*
 * Tests for qcow2.c, run by `make test`: numbered checks, a summary, and a
 * nonzero exit when any fails (in the manner of antirez/sds). qemu-img is the
 * oracle in src/disk/qcow2.test.ts; these need nothing but the library.
 * qcow2_flatten's tests are in test_flatten.c, qcow2_flatten_fd's in test_flatten_fd.c,
 * qcow2_flatten_zstd's and qcow2_zstd_file's in test_zpack.c.
 */
#define _POSIX_C_SOURCE 200809L

#include "qcow2.h"
#include "test_qcow2.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUZZ_ROUNDS 20000

uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void put_be32(uint8_t *p, uint32_t v) {
  for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (24 - 8 * i));
}

void put_be64(uint8_t *p, uint64_t v) {
  put_be32(p, (uint32_t)(v >> 32));
  put_be32(p + 4, (uint32_t)v);
}

uint64_t next_rand(uint64_t *s) { /* xorshift64*: reproducible runs */
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 0x2545f4914f6cdd1dull;
}

const char *in_dir(const char *dir, const char *name, char *buf) {
  snprintf(buf, 512, "%s/%s", dir, name);
  return buf;
}

/* Replace `path` with `len` bytes of `data` padded with zeros to `size`. */
int put_file(const char *path, const uint8_t *data, size_t len, off_t size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int ok = fd >= 0 && write(fd, data, len) == (ssize_t)len && ftruncate(fd, size) == 0;
  if (fd >= 0) close(fd);
  return ok ? 0 : -1;
}

ssize_t get_file(const char *path, uint8_t *buf, size_t cap) {
  int fd = open(path, O_RDONLY);
  ssize_t n = fd < 0 ? -1 : read(fd, buf, cap);
  if (fd >= 0) close(fd);
  return n;
}

int exists(const char *path) { return access(path, F_OK) == 0; }

/* Cluster 0 by hand: header from `c0`, a backing format extension, another
 * extension of `extra_len` bytes, the end marker, then the name. */
static void craft_cluster0(uint8_t *c0, size_t header_len, uint32_t extra_len, const char *name) {
  size_t off = header_len, n = strlen(name);
  memset(c0 + header_len, 0, CLUSTER - header_len);
  put_be32(c0 + off, 0xe2792aca), put_be32(c0 + off + 4, 3), memcpy(c0 + off + 8, "raw", 3);
  off += 16;
  put_be32(c0 + off, 0x12345678), put_be32(c0 + off + 4, extra_len);
  memset(c0 + off + 8, 0x5a, extra_len);
  off += 8 + ((extra_len + 7u) & ~7u) + 8;
  memcpy(c0 + off, name, n);
  put_be64(c0 + 8, off), put_be32(c0 + 16, (uint32_t)n);
}

static void test_create(struct tally *t, const char *dir) {
  char base[512], ov[512], ov2[512], ov3[512];
  uint8_t *buf = malloc(4 * CLUSTER);
  struct qcow2_info info;
  int r;

  in_dir(dir, "base.raw", base), in_dir(dir, "ov.qcow2", ov);
  in_dir(dir, "ov2.qcow2", ov2), in_dir(dir, "ov3.qcow2", ov3);
  memset(buf, 0x11, 1000);
  put_file(base, buf, 1000, 1000);
  /* A relative name resolves against the overlay's directory, not the cwd. */
  r = qcow2_create_overlay(ov, "base.raw", "raw", 0);
  check(t, "create an overlay on a relative raw backing file", r == 0);
  r = qcow2_read_info(ov, &info);
  check(t, "read back version, cluster size, backing name and format",
        r == 0 && info.version == 3 && info.cluster_bits == 16 && info.incompatible_features == 0 &&
            strcmp(info.backing_file, "base.raw") == 0 && strcmp(info.backing_format, "raw") == 0);
  check(t, "inherit a raw file's size rounded up to 512", info.virtual_size == 1024);
  memset(buf, 0, 4 * CLUSTER);
  check(t, "file ends after the 8-byte L1 table", get_file(ov, buf, 4 * CLUSTER) == 3 * CLUSTER + 8);
  check(t, "refcount table points at the block in cluster 2",
        get_be32(buf + CLUSTER) == 0 && get_be32(buf + CLUSTER + 4) == 2 * CLUSTER);
  check(t, "clusters 0-3 have refcount 1 and cluster 4 none",
        memcmp(buf + 2 * CLUSTER, "\0\1\0\1\0\1\0\1\0\0", 10) == 0);

  r = qcow2_create_overlay(ov2, ov, "qcow2", 0);
  check(t, "inherit a qcow2 backing file's virtual size",
        r == 0 && qcow2_read_info(ov2, &info) == 0 && info.virtual_size == 1024 &&
            strcmp(info.backing_format, "qcow2") == 0);
  r = qcow2_create_overlay(ov3, base, "raw", (uint64_t)3 << 30);
  check(t, "size the L1 table for an explicit 3 GiB",
        r == 0 && qcow2_read_info(ov3, &info) == 0 && info.virtual_size == (uint64_t)3 << 30 &&
            get_file(ov3, buf, 4 * CLUSTER) == 3 * CLUSTER + 6 * 8);
  free(buf);
}

static void test_create_errors(struct tally *t, const char *dir) {
  char ov[512], fresh[512], name[QCOW2_PATH_MAX + 2];
  uint8_t before[64], after[64];

  in_dir(dir, "ov.qcow2", ov), in_dir(dir, "fresh.qcow2", fresh);
  get_file(ov, before, sizeof before);
  check(t, "refuse an existing destination and leave it alone",
        qcow2_create_overlay(ov, "base.raw", "raw", 0) == -EEXIST &&
            get_file(ov, after, sizeof after) == sizeof after && memcmp(before, after, 64) == 0);
  check(t, "refuse a missing backing file and leave nothing behind",
        qcow2_create_overlay(fresh, "missing.raw", "raw", 0) == -ENOENT && !exists(fresh));
  check(t, "refuse an unknown backing format",
        qcow2_create_overlay(fresh, "base.raw", "vmdk", 0) == -EINVAL && !exists(fresh));
  check(t, "refuse a size that is not whole sectors",
        qcow2_create_overlay(fresh, "base.raw", "raw", 1000) == -EINVAL);
  check(t, "refuse a size qemu could not open",
        qcow2_create_overlay(fresh, "base.raw", "raw", (uint64_t)1 << 60) == -EFBIG &&
            !exists(fresh));
  check(t, "refuse a raw file named as qcow2",
        qcow2_create_overlay(fresh, "base.raw", "qcow2", 0) == -EINVAL && !exists(fresh));
  memset(name, 'a', QCOW2_PATH_MAX + 1);
  name[QCOW2_PATH_MAX + 1] = '\0';
  check(t, "refuse a backing name over QCOW2_PATH_MAX",
        qcow2_create_overlay(fresh, name, "raw", 0) == -ENAMETOOLONG && !exists(fresh));
}

static void test_read_errors(struct tally *t, const char *dir) {
  char path[512], ov[512];
  uint8_t buf[CLUSTER];
  struct qcow2_info info;
  ssize_t n;

  in_dir(dir, "ov.qcow2", ov);
  check(t, "report a missing image", qcow2_read_info(in_dir(dir, "nope", path), &info) == -ENOENT);
  check(t, "call a raw file not qcow2", qcow2_read_info(in_dir(dir, "base.raw", path), &info) == -EINVAL);
  n = get_file(ov, buf, sizeof buf);
  put_file(in_dir(dir, "short.qcow2", path), buf, 100, 100);
  check(t, "call a cut-off header invalid", qcow2_read_info(path, &info) == -EINVAL);
  put_file(path, buf, (size_t)n, 3 * CLUSTER);
  check(t, "call a file without its L1 table invalid", qcow2_read_info(path, &info) == -EINVAL);
  put_be32(buf + 4, 4);
  put_file(path, buf, (size_t)n, 3 * CLUSTER + 8);
  check(t, "refuse version 4", qcow2_read_info(path, &info) == -ENOTSUP);
  check(t, "the binding's struct size matches", qcow2_info_size() == sizeof info && sizeof info == 1080);
}

static void test_set_backing(struct tally *t, const char *dir) {
  char ov[512], long_name[300];
  uint8_t *c0 = malloc(CLUSTER), *c1 = malloc(CLUSTER);
  struct qcow2_info info;
  size_t i, stale = 0;

  in_dir(dir, "ov.qcow2", ov);
  memset(long_name, 'b', sizeof long_name - 1);
  long_name[sizeof long_name - 1] = '\0';
  check(t, "rewrite the backing name and format",
        qcow2_set_backing(ov, long_name, "qcow2") == 0 && qcow2_read_info(ov, &info) == 0 &&
            strcmp(info.backing_file, long_name) == 0 && strcmp(info.backing_format, "qcow2") == 0);
  check(t, "shorten it again", qcow2_set_backing(ov, "base.raw", "raw") == 0);
  get_file(ov, c0, CLUSTER);
  for (i = 0; i + 1 < CLUSTER; i++) stale += c0[i] == 'b' && c0[i + 1] == 'b';
  check(t, "leave no bytes of the old name behind", stale == 0);
  check(t, "refuse a format without a name, and a name without a format",
        qcow2_set_backing(ov, "", "raw") == -EINVAL && qcow2_set_backing(ov, "x", "") == -EINVAL);

  /* Fill cluster 0 with a foreign extension: it must survive, and a longer
   * name must not fit. */
  craft_cluster0(c0, 112, CLUSTER - 112 - 16 - 16 - 8 - 64, "base.raw");
  put_file(ov, c0, CLUSTER, 3 * CLUSTER + 8);
  check(t, "refuse a name that does not fit in cluster 0, changing nothing",
        qcow2_set_backing(ov, long_name, "raw") == -ENOSPC && get_file(ov, c1, CLUSTER) == CLUSTER &&
            memcmp(c0, c1, CLUSTER) == 0);
  check(t, "keep a foreign extension when the name changes",
        qcow2_set_backing(ov, "other.raw", "qcow2") == 0 && get_file(ov, c1, CLUSTER) == CLUSTER &&
            get_be32(c1 + 112 + 16) == 0x12345678 && c1[112 + 16 + 8] == 0x5a &&
            qcow2_read_info(ov, &info) == 0 && strcmp(info.backing_file, "other.raw") == 0);

  /* An old v2 image: 72-byte header, no extensions, the name right after it. */
  memset(c0 + 72, 0, CLUSTER - 72);
  put_be32(c0 + 4, 2), put_be64(c0 + 8, 72), put_be32(c0 + 16, 8), memcpy(c0 + 72, "base.raw", 8);
  put_file(ov, c0, CLUSTER, 3 * CLUSTER + 8);
  check(t, "read a v2 header without extensions",
        qcow2_read_info(ov, &info) == 0 && info.version == 2 && info.backing_format[0] == '\0' &&
            strcmp(info.backing_file, "base.raw") == 0);
  check(t, "give a v2 image a backing format",
        qcow2_set_backing(ov, "base.raw", "raw") == 0 && qcow2_read_info(ov, &info) == 0 &&
            info.version == 2 && strcmp(info.backing_format, "raw") == 0);
  check(t, "remove the backing file",
        qcow2_set_backing(ov, "", "") == 0 && qcow2_read_info(ov, &info) == 0 &&
            info.backing_file[0] == '\0' && info.backing_format[0] == '\0');
  free(c0), free(c1);
}

/* Mutations of a valid header, written as files of random lengths, must make
 * read_info and set_backing fail cleanly or succeed consistently. */
static void test_fuzz(struct tally *t, const char *dir) {
  static const uint32_t edge[] = {0, 1, 2, 3, 8, 9, 21, 22, 72, 104, 112, 0x10000,
                                  0x7fffffff, 0x80000000, 0xfffffff8, 0xffffffff};
  char ov[512], path[512];
  uint8_t orig[1024], c0[1024];
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  struct qcow2_info info;
  int bad = 0;

  in_dir(dir, "fuzz-base.qcow2", ov), in_dir(dir, "fuzz.qcow2", path);
  qcow2_create_overlay(ov, "base.raw", "raw", (uint64_t)1 << 30);
  get_file(ov, orig, sizeof orig);
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    uint64_t kind = next_rand(&seed) % 4, len = 3 * CLUSTER + 16;
    int r;
    memcpy(c0, orig, sizeof c0);
    for (int m = 0, count = 1 + (int)(next_rand(&seed) % 4); m < count; m++) {
      uint64_t x = next_rand(&seed), at = next_rand(&seed) % 256;
      if (kind == 0) c0[at] ^= (uint8_t)(1u << (x % 8));
      if (kind == 1) put_be32(c0 + (at & ~3u), edge[x % 16]);
      if (kind == 2) put_be64(c0 + (at & ~7u), x >> (x % 64));
      if (kind == 3) c0[at] = (uint8_t)x;
    }
    if (next_rand(&seed) % 4 == 0) len = next_rand(&seed) % (next_rand(&seed) % 2 ? 300 : len);
    put_file(path, c0, len < sizeof c0 ? (size_t)len : sizeof c0, (off_t)len);
    r = qcow2_read_info(path, &info);
    if (r == 0)
      bad += (info.version != 2 && info.version != 3) || info.cluster_bits < 9 ||
             info.cluster_bits > 21 || memchr(info.backing_file, 0, sizeof info.backing_file) == NULL ||
             memchr(info.backing_format, 0, sizeof info.backing_format) == NULL;
    else
      bad += r != -EINVAL && r != -ENOTSUP;
    if (round % 4 != 0) continue;
    r = qcow2_set_backing(path, "new.raw", "raw");
    if (r == 0)
      bad += qcow2_read_info(path, &info) != 0 || strcmp(info.backing_file, "new.raw") != 0;
    else
      bad += r != -EINVAL && r != -ENOTSUP && r != -ENOSPC;
  }
  check(t, "survive mutated and truncated headers with clean errors", bad == 0);
}

static void remove_dir(const char *dir) {
  char path[512];
  DIR *d = opendir(dir);
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) unlink(in_dir(dir, e->d_name, path));
  if (d != NULL) closedir(d);
  rmdir(dir);
}

int main(void) {
  char dir[256];
  const char *tmp = getenv("TMPDIR");
  struct tally t = {0, 0};

  snprintf(dir, sizeof dir, "%s/qcow2-test-XXXXXX", tmp != NULL && *tmp != '\0' ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  test_create(&t, dir);
  test_create_errors(&t, dir);
  test_read_errors(&t, dir);
  test_set_backing(&t, dir);
  test_fuzz(&t, dir);
  test_flatten(&t, dir);
  test_flatten_fd(&t, dir);
  test_zpack(&t, dir);
  remove_dir(dir);
  printf("%d tests, %d passed, %d failed\n", t.run, t.run - t.failed, t.failed);
  return t.failed == 0 ? 0 : 1;
}
