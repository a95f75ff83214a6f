/* What test_qcow2.c (the runner) shares with test_flatten.c. */
#ifndef TEST_QCOW2_H
#define TEST_QCOW2_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define CLUSTER 65536

struct tally {
  int run, failed;
};

#define check(t, descr, cond)                                                   \
  do {                                                                          \
    int ok_ = (cond);                                                           \
    (t)->run++;                                                                 \
    if (!ok_) (t)->failed++;                                                    \
    printf("%d - %s: %s\n", (t)->run, (descr), ok_ ? "PASSED" : "FAILED");      \
  } while (0)

uint32_t get_be32(const uint8_t *p);
void put_be32(uint8_t *p, uint32_t v);
void put_be64(uint8_t *p, uint64_t v);
uint64_t next_rand(uint64_t *s);
const char *in_dir(const char *dir, const char *name, char *buf);
int put_file(const char *path, const uint8_t *data, size_t len, off_t size);
ssize_t get_file(const char *path, uint8_t *buf, size_t cap);
int exists(const char *path);

/* test_flatten.c: crafted images and an independent reader of flattened ones. */
/* One L2 entry of a crafted image: `flags` | a data cluster filled with `fill`
 * (fill < 0: no data cluster, the entry is just `flags`). */
struct entry {
  uint64_t vcluster, flags;
  int fill;
};

struct spec {
  uint32_t version, cluster_bits;
  uint64_t size;
  const char *backing, *format; /* NULL: none */
  int count;
  struct entry e[8];
};

size_t craft(const char *path, const struct spec *s, uint8_t **image);
uint64_t be64(const uint8_t *p);
int read_flat(const char *path, uint8_t **disk, uint64_t *size, uint64_t *data_clusters);
uint8_t expected_byte(uint64_t off);
void make_chain(const char *dir);

void test_flatten(struct tally *t, const char *dir);
void test_flatten_fd(struct tally *t, const char *dir);
/* test_flatten_fd.c: qcow2_flatten_size then qcow2_flatten_fd into a new file `out`. */
int flatten_fd_to_file(const char *src, const char *out);
/* test_zpack.c: qcow2_flatten_zstd and qcow2_zstd_file. */
void test_zpack(struct tally *t, const char *dir);

#endif
