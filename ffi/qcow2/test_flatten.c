/*
 * Tests for qcow2_flatten (qcow2_flatten_fd's are in test_flatten_fd.c): chains crafted byte by byte (so every cluster size,
 * v2, zero clusters and broken tables can be made without qemu), the output
 * read back by a reader independent of the library, and a fuzzer that mutates
 * a small chain's headers and tables. src/disk/qcow2.test.ts adds qemu-img as
 * the oracle.
 */
#define _POSIX_C_SOURCE 200809L

#include "qcow2.h"
#include "test_qcow2.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLATTEN_FUZZ_ROUNDS 3000
#define ROUND_SECONDS 20 /* SIGALRM ends the runner if one flatten hangs */

/* Header in cluster 0, refcount table and block in 1 and 2 (never read by
 * flatten), L1 from 3, then L2 tables and data clusters in the order met. */
size_t craft(const char *path, const struct spec *s, uint8_t **image) {
  uint64_t c = (uint64_t)1 << s->cluster_bits, per_l2 = c / 8;
  uint64_t l1_size = (s->size + per_l2 * c - 1) / (per_l2 * c);
  uint64_t l1_clusters = (l1_size * 8 + c - 1) / c, next = (3 + (l1_clusters ? l1_clusters : 1)) * c;
  size_t total = (size_t)(next + 2 * (uint64_t)s->count * c), off;
  uint8_t *b = calloc(1, total);
  size_t header_len = s->version == 2 ? 72 : 104;
  put_be32(b, 0x514649fb), put_be32(b + 4, s->version), put_be32(b + 20, s->cluster_bits);
  put_be64(b + 24, s->size), put_be32(b + 36, (uint32_t)l1_size), put_be64(b + 40, 3 * c);
  put_be64(b + 48, c), put_be32(b + 56, 1), put_be64(b + c, 2 * c);
  if (s->version == 3) put_be32(b + 96, 4), put_be32(b + 100, (uint32_t)header_len);
  off = header_len;
  if (s->format != NULL) {
    put_be32(b + off, 0xe2792aca), put_be32(b + off + 4, (uint32_t)strlen(s->format));
    memcpy(b + off + 8, s->format, strlen(s->format));
    off += 16;
  }
  off += 8; /* end of extensions */
  if (s->backing != NULL) {
    memcpy(b + off, s->backing, strlen(s->backing));
    put_be64(b + 8, off), put_be32(b + 16, (uint32_t)strlen(s->backing));
  }
  for (int i = 0; i < s->count; i++) {
    const struct entry *e = &s->e[i];
    uint8_t *l1e = b + 3 * c + 8 * (e->vcluster / per_l2);
    uint64_t l2 = get_be32(l1e + 4) & ~(uint64_t)511, data = 0;
    if (l2 == 0) {
      l2 = next, next += c;
      put_be64(l1e, l2 | 1ull << 63);
    }
    if (e->fill >= 0) {
      data = next, next += c;
      memset(b + data, e->fill, c);
    }
    put_be64(b + l2 + 8 * (e->vcluster % per_l2), e->flags | data);
  }
  put_file(path, b, (size_t)next, (off_t)next);
  if (image != NULL) *image = b;
  else free(b);
  return (size_t)next;
}

uint64_t be64(const uint8_t *p) { return (uint64_t)get_be32(p) << 32 | get_be32(p + 4); }

/* Read a flattened image independently of the library: check it is v3 with 64 KiB
 * clusters, no backing file and refcount 1 on every cluster of the file, and return
 * its disk in *disk (caller frees) and how many data clusters it has. */
int read_flat(const char *path, uint8_t **disk, uint64_t *size, uint64_t *data_clusters) {
  static uint8_t file[8 << 20];
  ssize_t n = get_file(path, file, sizeof file);
  uint64_t l1_off, l1_size, rt_off, clusters;
  if (n < 112 || n % CLUSTER != 0 || get_be32(file) != 0x514649fb || get_be32(file + 4) != 3 ||
      get_be32(file + 20) != 16 || be64(file + 8) != 0 || get_be32(file + 96) != 4)
    return -1;
  *size = be64(file + 24), l1_size = get_be32(file + 36), l1_off = be64(file + 40);
  rt_off = be64(file + 48), clusters = (uint64_t)n / CLUSTER;
  if (*size > 64 << 20 || rt_off + CLUSTER > (uint64_t)n) return -1;
  for (uint64_t i = 0; i < clusters; i++) {
    uint64_t block = be64(file + rt_off + 8 * (i / 32768)) & ~(uint64_t)511;
    if (block == 0 || block + CLUSTER > (uint64_t)n || file[block + 2 * (i % 32768) + 1] != 1) return -1;
  }
  *disk = calloc(1, *size + CLUSTER);
  *data_clusters = 0;
  for (uint64_t i = 0; i < l1_size; i++) {
    uint64_t l2 = be64(file + l1_off + 8 * i) & 0x00fffffffffffe00ull;
    for (uint64_t j = 0; l2 != 0 && j < 8192; j++) {
      uint64_t d = be64(file + l2 + 8 * j) & 0x00fffffffffffe00ull, v = (i * 8192 + j) * CLUSTER;
      if (d == 0) continue;
      if (d + CLUSTER > (uint64_t)n || v >= *size) return free(*disk), -1;
      memcpy(*disk + v, file + d, CLUSTER);
      ++*data_clusters;
    }
  }
  return 0;
}

/* No ".<name>.flatten-XXXXXX" left in `dir`. */
static int no_temp(const char *dir) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int found = 0;
  while (d != NULL && (e = readdir(d)) != NULL) found += strstr(e->d_name, ".flatten-") != NULL;
  if (d != NULL) closedir(d);
  return found == 0;
}

/* base.raw <- mid.qcow2 (v2, 512 B clusters, larger than base) <- top.qcow2 (v3, 4 KiB). */
uint8_t expected_byte(uint64_t off) {
  if (off < 4096) return 0;                              /* top: zero cluster */
  if (off >= 40960 && off < 45056) return 0x33;          /* top: data */
  if (off >= 2457600 && off < 2461696) return 0x34;      /* top: data past mid's end */
  if (off >= 1638400 && off < 1642496) return 0;         /* top: a data cluster of zeros */
  if (off >= 2 << 20) return 0;                          /* past mid's end */
  if (off >= 1075200 && off < 1075712) return 0x23;      /* mid: past base's end */
  return off < (1 << 20) + 1000 ? 0x11 : 0;              /* base, then past its end */
}

void make_chain(const char *dir) {
  char path[512];
  uint8_t *base = malloc((1 << 20) + 1000);
  struct spec mid = {2, 9, 2 << 20, "base.raw", "raw", 2, {{4, 0, 0x22}, {2100, 0, 0x23}}};
  struct spec top = {3, 12, 3 << 20, "mid.qcow2", "qcow2", 4,
                     {{0, 1, -1}, {10, 0, 0x33}, {600, 0, 0x34}, {400, 0, 0}}};
  memset(base, 0x11, (1 << 20) + 1000);
  put_file(in_dir(dir, "base.raw", path), base, (1 << 20) + 1000, (1 << 20) + 1000);
  craft(in_dir(dir, "mid.qcow2", path), &mid, NULL);
  craft(in_dir(dir, "top.qcow2", path), &top, NULL);
  free(base);
}

static void test_flatten_chain(struct tally *t, const char *dir) {
  char top[512], out[512];
  uint8_t *disk = NULL;
  uint64_t size = 0, data = 0, wrong = 0;
  struct qcow2_info info;
  make_chain(dir);
  in_dir(dir, "top.qcow2", top), in_dir(dir, "flat.qcow2", out);
  check(t, "flatten a 3-image chain of mixed versions and cluster sizes", qcow2_flatten(top, out, 0) == 0);
  check(t, "the result is a valid qcow2 v3 without a backing file, refcounts all 1",
        read_flat(out, &disk, &size, &data) == 0 && qcow2_read_info(out, &info) == 0 &&
            info.backing_file[0] == '\0');
  check(t, "it keeps the top's virtual size", size == 3 << 20);
  for (uint64_t i = 0; disk != NULL && i < size; i++) wrong += disk[i] != expected_byte(i);
  check(t, "every byte reads as through the chain (zero clusters, sizes, raw end)", disk != NULL && wrong == 0);
  check(t, "only the 18 clusters with non-zero data are allocated", data == 18);
  check(t, "leave no temporary file", no_temp(dir));
  free(disk);
}

static int flatten_to_file(const char *src, const char *out) { return qcow2_flatten(src, out, 0); }

/* qemu writes whole clusters, but a file cut inside its last one reads as zeros past
 * the end, there and in qemu; the batch before leaves its bytes in the buffer. Both
 * writers: qcow2_flatten, and qcow2_flatten_fd into a file. */
static void test_flatten_short_file(struct tally *t, const char *dir) {
  static const struct {
    const char *name;
    int (*flatten)(const char *src, const char *out);
  } writers[] = {{"qcow2_flatten", flatten_to_file}, {"qcow2_flatten_fd", flatten_fd_to_file}};
  char path[512], out[512], name[128];
  struct spec s = {3, 21, 6 << 20, NULL, NULL, 3, {{0, 0, 0x5a}, {1, 0, 0x5a}, {2, 0, 0x5b}}};
  for (size_t w = 0; w < sizeof writers / sizeof writers[0]; w++) {
    uint8_t *disk = NULL;
    uint64_t size = 0, data = 0, wrong = 0;
    size_t len = craft(in_dir(dir, "short.qcow2", path), &s, NULL);
    truncate(path, (off_t)len - 1000);
    in_dir(dir, "short-flat.qcow2", out);
    snprintf(name, sizeof name, "%s: flatten an image whose last data cluster is cut short", writers[w].name);
    check(t, name, writers[w].flatten(path, out) == 0 && read_flat(out, &disk, &size, &data) == 0 && size == 6 << 20);
    for (uint64_t i = 0; disk != NULL && i < size; i++)
      wrong += disk[i] != (i < 4 << 20 ? 0x5a : i < size - 1000 ? 0x5b : 0);
    snprintf(name, sizeof name, "%s: the missing bytes read as zeros", writers[w].name);
    check(t, name, disk != NULL && wrong == 0 && data == 96);
    free(disk);
    unlink(path), unlink(out);
  }
}

static void test_flatten_errors(struct tally *t, const char *dir) {
  char top[512], out[512], path[512];
  uint8_t before[64] = {0}, after[64] = {0};
  struct spec compressed = {3, 16, 1 << 20, NULL, NULL, 1, {{1, 1ull << 62 | 0x30000, -1}}};
  struct spec v2_zero = {2, 16, 1 << 20, NULL, NULL, 1, {{1, 1, -1}}};
  struct spec past_eof = {3, 16, 1 << 20, NULL, NULL, 1, {{1, 0x7fff0000, -1}}};
  struct spec unaligned = {3, 16, 1 << 20, NULL, NULL, 1, {{1, 0x30200, -1}}};
  struct spec vmdk = {3, 16, 1 << 20, "base.raw", "vmdk", 0, {{0}}};
  struct spec plain = {3, 16, 1 << 20, NULL, NULL, 1, {{0, 0, 0x5a}}};
  struct spec small = {3, 9, 1 << 20, NULL, NULL, 1, {{0, 0, 0x5a}}};
  uint8_t *image;
  size_t len;

  in_dir(dir, "top.qcow2", top), in_dir(dir, "flat.qcow2", out);
  get_file(out, before, sizeof before);
  check(t, "refuse an existing destination and leave it alone",
        qcow2_flatten(top, out, 0) == -EEXIST && get_file(out, after, sizeof after) == 64 &&
            memcmp(before, after, 64) == 0);
  unlink(out);
  check(t, "an unknown flag bit is EINVAL, leaving nothing", qcow2_flatten(top, out, 2) == -EINVAL && !exists(out) && no_temp(dir));
  check(t, "QCOW2_FLATTEN_NO_SYNC flattens all the same", qcow2_flatten(top, out, QCOW2_FLATTEN_NO_SYNC) == 0 && exists(out) && no_temp(dir));
  unlink(out);
  unlink(in_dir(dir, "mid.qcow2", path));
  check(t, "a missing backing file is ENOENT, leaving nothing",
        qcow2_flatten(top, out, 0) == -ENOENT && !exists(out) && no_temp(dir));
  check(t, "a raw file as the top image is EINVAL",
        qcow2_flatten(in_dir(dir, "base.raw", path), out, 0) == -EINVAL && !exists(out));

  craft(in_dir(dir, "bad.qcow2", path), &compressed, NULL);
  check(t, "a compressed cluster is ENOTSUP, leaving nothing",
        qcow2_flatten(path, out, 0) == -ENOTSUP && !exists(out) && no_temp(dir));
  craft(path, &v2_zero, NULL);
  check(t, "a zero flag in a v2 image is EINVAL", qcow2_flatten(path, out, 0) == -EINVAL);
  craft(path, &past_eof, NULL);
  check(t, "a data cluster past the end of the file is EINVAL", qcow2_flatten(path, out, 0) == -EINVAL);
  craft(path, &unaligned, NULL);
  check(t, "an unaligned data cluster is EINVAL", qcow2_flatten(path, out, 0) == -EINVAL);
  craft(path, &vmdk, NULL);
  check(t, "a backing format other than raw or qcow2 is ENOTSUP", qcow2_flatten(path, out, 0) == -ENOTSUP);

  len = craft(path, &plain, &image);
  put_be32(image + 32, 1); /* AES */
  put_file(path, image, len, (off_t)len);
  check(t, "an encrypted image is ENOTSUP", qcow2_flatten(path, out, 0) == -ENOTSUP);
  put_be32(image + 32, 0), put_be64(image + 72, 1ull << 4); /* extended L2 */
  put_file(path, image, len, (off_t)len);
  check(t, "an unsupported incompatible feature is ENOTSUP", qcow2_flatten(path, out, 0) == -ENOTSUP);
  put_be64(image + 72, 2); /* corrupt */
  put_file(path, image, len, (off_t)len);
  check(t, "an image marked corrupt is EINVAL", qcow2_flatten(path, out, 0) == -EINVAL);
  put_be64(image + 72, 1); /* dirty: only refcounts may be stale */
  put_file(path, image, len, (off_t)len);
  check(t, "a dirty image flattens", qcow2_flatten(path, out, 0) == 0 && unlink(out) == 0);
  free(image);
  /* Two L1 entries naming one L2 table: corrupt, and how a small file would make a long walk. */
  len = craft(path, &small, &image);
  put_be64(image + 3 * 512 + 8, be64(image + 3 * 512));
  put_file(path, image, len, (off_t)len);
  check(t, "an L2 table mapped twice is EINVAL", qcow2_flatten(path, out, 0) == -EINVAL && !exists(out));
  free(image);

  check(t, "an image backed by itself ends with ELOOP",
        qcow2_create_overlay(in_dir(dir, "self.qcow2", path), "base.raw", "raw", 0) == 0 &&
            qcow2_set_backing(path, "self.qcow2", "qcow2") == 0 &&
            qcow2_flatten(path, out, 0) == -ELOOP && !exists(out) && no_temp(dir));
  check(t, "NULL and empty paths are EINVAL",
        qcow2_flatten(NULL, out, 0) == -EINVAL && qcow2_flatten(top, "", 0) == -EINVAL);
  check(t, "a missing destination directory fails cleanly",
        qcow2_flatten(path, in_dir(dir, "no/such.qcow2", out), 0) < 0);
}

static void test_flatten_large(struct tally *t, const char *dir) {
  char ov[512], out[512];
  struct qcow2_info info;
  in_dir(dir, "huge.qcow2", ov), in_dir(dir, "huge-flat.qcow2", out);
  /* 1 PiB over a 1000-byte raw file: the empty L1 ranges are skipped whole. */
  check(t, "flatten a 1 PiB overlay that holds nothing, quickly",
        qcow2_create_overlay(ov, "base.raw", "raw", (uint64_t)1 << 50) == 0 &&
            qcow2_flatten(ov, out, 0) == 0 && qcow2_read_info(out, &info) == 0 &&
            info.virtual_size == (uint64_t)1 << 50 && info.backing_file[0] == '\0');
  unlink(ov), unlink(out);
}

/* Mutations of the headers, L1 and L2 tables of a small chain must end in success
 * with a valid image or a clean error with nothing left, never a crash or a hang. */
static void test_flatten_fuzz(struct tally *t, const char *dir) {
  static const uint64_t edge[] = {0, 1, 9, 21, 512, 0x10000, 0x7fffffff, 0xffffffff, 1ull << 62,
                                  1ull << 63, 0x8000000000010000ull, 0x00fffffffffffe00ull};
  char base[512], mid[512], top[512], out[512];
  uint8_t *orig[2], *img;
  size_t len[2];
  uint64_t seed = 0x243f6a8885a308d3ull;
  int bad = 0, ok = 0, disagree = 0;
  struct spec m = {3, 9, 256 << 10, "fz-base.raw", "raw", 3, {{0, 0, 0x21}, {70, 1, -1}, {300, 0, 0x22}}};
  struct spec tp = {3, 12, 512 << 10, "fz-mid.qcow2", "qcow2", 3, {{1, 0, 0x31}, {2, 1, -1}, {100, 0, 0x32}}};
  uint8_t raw[4096];
  memset(raw, 0x11, sizeof raw);
  put_file(in_dir(dir, "fz-base.raw", base), raw, sizeof raw, sizeof raw);
  len[0] = craft(in_dir(dir, "fz-mid.qcow2", mid), &m, &orig[0]);
  len[1] = craft(in_dir(dir, "fz-top.qcow2", top), &tp, &orig[1]);
  in_dir(dir, "fz-flat.qcow2", out);
  img = malloc(len[0] > len[1] ? len[0] : len[1]);
  for (int round = 0; round < FLATTEN_FUZZ_ROUNDS; round++) {
    int which = (int)(next_rand(&seed) % 2), r, r_fd;
    size_t n = len[which];
    struct qcow2_info info;
    memcpy(img, orig[which], n);
    for (int k = 0, count = 1 + (int)(next_rand(&seed) % 3); k < count; k++) {
      uint64_t x = next_rand(&seed), at = next_rand(&seed) % (x % 2 ? 128 : n);
      if (x % 3 == 0) img[at] ^= (uint8_t)(1u << (x >> 8) % 8);
      else put_be64(img + (at & ~(uint64_t)7), edge[(x >> 8) % 12] | ((x >> 20) % 4 == 0 ? (x >> 24) << 9 : 0));
    }
    if (next_rand(&seed) % 8 == 0) n = next_rand(&seed) % n;
    put_file(which ? top : mid, img, n, (off_t)n);
    alarm(ROUND_SECONDS);
    r = qcow2_flatten(top, out, 0);
    alarm(0);
    if (r == 0) {
      ok++;
      bad += qcow2_read_info(out, &info) != 0 || info.backing_file[0] != '\0' || unlink(out) != 0;
    } else {
      bad += exists(out) || (r != -EINVAL && r != -ENOTSUP && r != -ENOENT && r != -ELOOP &&
                             r != -EFBIG && r != -ENAMETOOLONG && r != -EISDIR && r != -ENOTDIR);
    }
    /* The streaming writer reads the same tables: it must agree. */
    alarm(ROUND_SECONDS);
    r_fd = flatten_fd_to_file(top, out);
    alarm(0);
    disagree += r_fd != r;
    bad += r_fd == 0 ? qcow2_read_info(out, &info) != 0 || info.backing_file[0] != '\0' || unlink(out) != 0 : exists(out);
    put_file(which ? top : mid, orig[which], len[which], (off_t)len[which]);
  }
  check(t, "survive mutated chains: a valid image or a clean error, nothing left", bad == 0 && no_temp(dir));
  check(t, "the fuzzer reaches both outcomes", ok > 0 && ok < FLATTEN_FUZZ_ROUNDS);
  check(t, "qcow2_flatten_fd succeeds or fails with qcow2_flatten's error on every mutation", disagree == 0);
  free(img), free(orig[0]), free(orig[1]);
}

void test_flatten(struct tally *t, const char *dir) {
  signal(SIGALRM, SIG_DFL);
  test_flatten_chain(t, dir);
  test_flatten_short_file(t, dir);
  test_flatten_errors(t, dir);
  test_flatten_large(t, dir);
  test_flatten_fuzz(t, dir);
}
