/*
 * What qcow2.c and flatten.c share: the big-endian helpers, the header offsets
 * and the validated view of an image's first cluster. Not part of the ABI: the
 * functions here are hidden from the shared library's symbol table.
 */
#ifndef QCOW2_INTERNAL_H
#define QCOW2_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#define QCOW2_HIDDEN __attribute__((visibility("hidden")))

/* Byte offsets of the header fields we use ("Header" in qcow2.txt); v3 adds the
 * fields from 72 on, and byte 104 is its compression type (0, zlib). */
enum {
  H_VERSION = 4, H_BACKING_OFFSET = 8, H_BACKING_SIZE = 16, H_CLUSTER_BITS = 20, H_SIZE = 24,
  H_CRYPT_METHOD = 32, H_L1_SIZE = 36, H_L1_OFFSET = 40, H_REFTABLE_OFFSET = 48,
  H_REFTABLE_CLUSTERS = 56, H_INCOMPAT = 72, H_REFCOUNT_ORDER = 96, H_HEADER_LENGTH = 100,
  V2_HEADER_LEN = 72, V3_MIN_HEADER_LEN = 104, V3_HEADER_LEN = 112,
  OVERLAY_CLUSTER_BITS = 16, REFCOUNT_ORDER_16BIT = 4,
};

#define QCOW2_MAGIC 0x514649fbu /* "QFI\xfb" */
#define MAX_L1_BYTES ((uint64_t)32 << 20) /* qemu's QCOW_MAX_L1_SIZE */

/* A validated header: cluster 0 (or the whole file, if shorter) and where things are in it. */
struct image {
  uint8_t *buf;       /* owned */
  size_t len;         /* bytes in buf */
  uint32_t version, cluster_bits;
  size_t header_len;  /* 72 for v2 */
  uint64_t size, incompat;
  size_t backing_off, backing_len; /* backing_len 0: no backing file */
  size_t format_off, format_len;   /* format_len 0: no backing format extension */
  size_t ext_limit;   /* the extension area ends here at the latest */
  size_t ext_end;     /* just past the end marker, or ext_limit */
};

static inline uint32_t get_be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t get_be64(const uint8_t *p) {
  return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}
static inline void put_be16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static inline void put_be32(uint8_t *p, uint32_t v) {
  put_be16(p, (uint16_t)(v >> 16)), put_be16(p + 2, (uint16_t)v);
}
static inline void put_be64(uint8_t *p, uint64_t v) {
  put_be32(p, (uint32_t)(v >> 32)), put_be32(p + 4, (uint32_t)v);
}

/* L1 entries needed to map `size` bytes: each maps an L2 table of 2^(bits-3) clusters. */
static inline uint64_t l1_entries(uint64_t size, uint32_t cluster_bits) {
  unsigned shift = 2 * cluster_bits - 3;
  return (size >> shift) + ((size & (((uint64_t)1 << shift) - 1)) != 0);
}

/* pread until `len` bytes or end of file; returns the count or -errno. */
QCOW2_HIDDEN ssize_t qcow2__pread_full(int fd, uint8_t *buf, size_t len, uint64_t off);

/* pwrite all `len` bytes at `off`; 0 or -errno. */
QCOW2_HIDDEN int qcow2__pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off);

/* Read and validate the header of the qcow2 image open at `fd`. On success the
 * caller frees img->buf. */
QCOW2_HIDDEN int qcow2__image_load(int fd, struct image *img);

/* The path qemu opens for backing name `backing` of the image at `image`: a
 * relative name is relative to the image's directory. 0 or -ENAMETOOLONG. */
QCOW2_HIDDEN int qcow2__backing_path(const char *image, const char *backing, char *out, size_t cap);

/* Where qcow2__flatten_to writes the image, in order: a descriptor (flatten_fd.c) or
 * a compressing, hashing archive member (zpack.c). `writev` takes all of `iov` or
 * fails with -errno; it may change `iov`. */
struct sink {
  int (*writev)(struct sink *s, struct iovec *iov, int count);
  uint64_t written;
};

/* Write the image qcow2_flatten_fd() describes (exactly `size` bytes) into `s`. */
QCOW2_HIDDEN int qcow2__flatten_to(const char *src, uint64_t size, struct sink *s);

#endif
