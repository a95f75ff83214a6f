/*
 * qcow2_flatten - see qcow2.h. Writes what the top of a backing chain (read
 * through chain.h) shows as one standalone qcow2 v3 file, skipping clusters
 * that read as zeros. The output is written front to back: header, an L1
 * table (sparse until its entries are written), then data clusters and L2
 * tables as they fill, then the refcounts, which are all 1. qcow2_flatten_fd
 * (flatten_fd.c) is the strictly sequential variant, for a pipe.
 */
#define _GNU_SOURCE /* pwritev */

#include "chain.h"
#include "internal.h"
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

struct out {
  int fd;
  uint64_t next;   /* end of the used clusters: new ones are appended */
  uint64_t l1_off;
  uint64_t l2_of;  /* L1 index of the table in l2; UINT64_MAX none */
  uint8_t *l2;     /* OUT_CLUSTER bytes */
  uint8_t *buf;    /* BATCH_CLUSTERS * OUT_CLUSTER bytes */
};

static bool is_zero(const uint8_t *p, size_t len) {
  static const uint8_t zeros[64];
  /* p[i] == p[i + 64] for all i, and the first 64 are 0: all are. memcmp is vectorised. */
  return memcmp(p, zeros, sizeof zeros) == 0 && memcmp(p, p + sizeof zeros, len - sizeof zeros) == 0;
}

static int pwritev_full(int fd, struct iovec *iov, int count, uint64_t off) {
  while (count > 0) {
    ssize_t n = pwritev(fd, iov, count, (off_t)off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    off += (uint64_t)n;
    while (count > 0 && (size_t)n >= iov->iov_len) n -= (ssize_t)iov->iov_len, iov++, count--;
    if (count > 0) iov->iov_base = (uint8_t *)iov->iov_base + n, iov->iov_len -= (size_t)n;
  }
  return 0;
}

/* Append the current L2 table and point its L1 entry at it. */
static int flush_l2(struct out *o) {
  uint8_t entry[8];
  int r;
  if (o->l2_of == UINT64_MAX) return 0;
  r = qcow2__pwrite_full(o->fd, o->l2, OUT_CLUSTER, o->next);
  put_be64(entry, o->next | OFLAG_COPIED);
  if (r == 0) r = qcow2__pwrite_full(o->fd, entry, sizeof entry, o->l1_off + 8 * o->l2_of);
  o->next += OUT_CLUSTER;
  o->l2_of = UINT64_MAX;
  return r;
}

/* Give each non-zero cluster of the batch the next free cluster, in order, and
 * write them with one pwritev. A batch lies within one output L2 table's span. */
static int write_batch(struct out *o, uint64_t v, uint64_t end, const bool *has_data) {
  struct iovec iov[BATCH_CLUSTERS];
  uint64_t clusters = (end - v + OUT_CLUSTER - 1) >> OUT_BITS, l1_index = v / OUT_L1_SPAN, start = 0;
  int count = 0, r;
  for (uint64_t k = 0; k < clusters; k++) {
    uint8_t *data = o->buf + (k << OUT_BITS);
    if (!has_data[k] || is_zero(data, OUT_CLUSTER)) continue;
    if (o->l2_of != l1_index) {
      r = flush_l2(o);
      if (r != 0) return r;
      memset(o->l2, 0, OUT_CLUSTER);
      o->l2_of = l1_index;
    }
    if (count == 0) start = o->next;
    put_be64(o->l2 + 8 * (((v >> OUT_BITS) + k) % OUT_L2_ENTRIES), o->next | OFLAG_COPIED);
    o->next += OUT_CLUSTER;
    if (count > 0 && (uint8_t *)iov[count - 1].iov_base + iov[count - 1].iov_len == data) {
      iov[count - 1].iov_len += OUT_CLUSTER;
    } else {
      iov[count].iov_base = data, iov[count].iov_len = OUT_CLUSTER;
      count++;
    }
  }
  return pwritev_full(o->fd, iov, count, start);
}

static int copy_chain(struct chain *c, struct out *o, uint64_t size) {
  bool has_data[BATCH_CLUSTERS];
  uint64_t v = 0;
  while (v < size) {
    struct run x;
    uint64_t end, span_end = (v / OUT_L1_SPAN + 1) * OUT_L1_SPAN;
    int r = qcow2__chain_resolve(c, v, size, &x);
    if (r != 0) return r;
    if (x.kind == RUN_ZERO) { /* skip whole output clusters of nothing at once */
      uint64_t skip = x.end == size ? size - v : (x.end - v) & ~(OUT_CLUSTER - 1);
      v += skip;
      if (skip > 0) continue;
    }
    end = v + BATCH_CLUSTERS * OUT_CLUSTER;
    if (end > span_end) end = span_end;
    if (end > size) end = size;
    memset(has_data, 0, sizeof has_data);
    r = qcow2__chain_read(c, o->buf, v, end, has_data, NULL);
    if (r == 0 && (end - v) % OUT_CLUSTER != 0) /* the disk ends inside the last cluster */
      memset(o->buf + (end - v), 0, OUT_CLUSTER - (end - v) % OUT_CLUSTER);
    if (r == 0) r = write_batch(o, v, end, has_data);
    if (r != 0) return r;
    v = end;
  }
  return flush_l2(o);
}

/* Refcount blocks then the refcount table after the used clusters, all of which
 * (and they themselves) have refcount 1; then the header in cluster 0. */
static int finish_image(struct out *o, uint64_t size, uint64_t l1_size) {
  uint64_t used = o->next >> OUT_BITS, blocks = 0, tables = 0, total;
  uint8_t *c = o->l2, h[V3_HEADER_LEN + 8] = {0};
  int r = 0;
  for (;;) {
    uint64_t b, t;
    total = used + blocks + tables;
    b = (total + REFCOUNTS_PER_BLOCK - 1) / REFCOUNTS_PER_BLOCK;
    t = (b + OUT_L2_ENTRIES - 1) / OUT_L2_ENTRIES;
    if (b == blocks && t == tables) break;
    blocks = b, tables = t;
  }
  for (uint64_t i = 0; i < REFCOUNTS_PER_BLOCK; i++) put_be16(c + 2 * i, 1);
  for (uint64_t i = 0; r == 0 && i < blocks; i++) {
    uint64_t left = total - i * REFCOUNTS_PER_BLOCK;
    if (left < REFCOUNTS_PER_BLOCK) memset(c + 2 * left, 0, 2 * (REFCOUNTS_PER_BLOCK - left));
    r = qcow2__pwrite_full(o->fd, c, OUT_CLUSTER, (used + i) << OUT_BITS);
  }
  for (uint64_t t = 0; r == 0 && t < tables; t++) {
    memset(c, 0, OUT_CLUSTER);
    for (uint64_t e = 0; e < OUT_L2_ENTRIES && t * OUT_L2_ENTRIES + e < blocks; e++)
      put_be64(c + 8 * e, (used + t * OUT_L2_ENTRIES + e) << OUT_BITS);
    r = qcow2__pwrite_full(o->fd, c, OUT_CLUSTER, (used + blocks + t) << OUT_BITS);
  }
  put_be32(h, QCOW2_MAGIC), put_be32(h + H_VERSION, 3);
  put_be32(h + H_CLUSTER_BITS, OUT_BITS), put_be64(h + H_SIZE, size);
  put_be32(h + H_L1_SIZE, (uint32_t)l1_size), put_be64(h + H_L1_OFFSET, o->l1_off);
  put_be64(h + H_REFTABLE_OFFSET, (used + blocks) << OUT_BITS);
  put_be32(h + H_REFTABLE_CLUSTERS, (uint32_t)tables);
  put_be32(h + H_REFCOUNT_ORDER, REFCOUNT_ORDER_16BIT), put_be32(h + H_HEADER_LENGTH, V3_HEADER_LEN);
  if (r == 0) r = qcow2__pwrite_full(o->fd, h, sizeof h, 0);
  return r;
}

static int write_image(struct chain *c, int fd) {
  uint64_t size = c->lv[0]->size, l1_size = l1_entries(size, OUT_BITS);
  uint64_t l1_clusters = (l1_size * 8 + OUT_CLUSTER - 1) >> OUT_BITS;
  struct out o = {fd, (1 + l1_clusters) << OUT_BITS, l1_size > 0 ? OUT_CLUSTER : 0, UINT64_MAX,
                  NULL, NULL};
  int r;
  if (l1_size * 8 > MAX_L1_BYTES) return -EFBIG;
  o.l2 = malloc(OUT_CLUSTER);
  o.buf = malloc(BATCH_CLUSTERS * OUT_CLUSTER);
  r = o.l2 == NULL || o.buf == NULL ? -ENOMEM : copy_chain(c, &o, size);
  if (r == 0) r = finish_image(&o, size, l1_size);
  free(o.l2), free(o.buf);
  return r;
}

/* Make `fd`'s file durable under the name `dst` (never replacing one), and the
 * name durable in its directory. */
static int install(int fd, const char *tmp, const char *dst, bool sync) {
  char dir[PATH_MAX];
  const char *slash = strrchr(dst, '/');
  int dfd, r = 0;
  if (sync && fsync(fd) != 0) return -errno;
  if (link(tmp, dst) != 0) {
    r = -errno;
    if (r != -EPERM && r != -ENOTSUP && r != -EOPNOTSUPP) return r;
    /* No hard links on this file system: a rename, checked just before. */
    if (access(dst, F_OK) == 0) return -EEXIST;
    if (rename(tmp, dst) != 0) return -errno;
    r = 0;
  }
  unlink(tmp);
  if (!sync) return 0;
  if (slash == NULL) snprintf(dir, sizeof dir, ".");
  else snprintf(dir, sizeof dir, "%.*s", slash == dst ? 1 : (int)(slash - dst), dst);
  dfd = open(dir, O_RDONLY | O_CLOEXEC);
  if (dfd < 0 || fsync(dfd) != 0) r = -errno;
  if (dfd >= 0) close(dfd);
  if (r != 0) unlink(dst);
  return r;
}

int qcow2_flatten(const char *src, const char *dst, unsigned flags) {
  char tmp[PATH_MAX];
  const char *slash;
  struct chain c = {{NULL}, 0};
  struct stat st;
  int fd, r, n;
  if (src == NULL || dst == NULL || *src == '\0' || *dst == '\0') return -EINVAL;
  if ((flags & ~QCOW2_FLATTEN_NO_SYNC) != 0) return -EINVAL;
  if (lstat(dst, &st) == 0) return -EEXIST;
  if (errno != ENOENT) return -errno;
  slash = strrchr(dst, '/');
  /* A hidden name beside dst: same file system, so the final link is atomic. */
  if (slash == NULL) n = snprintf(tmp, sizeof tmp, ".%s.flatten-XXXXXX", dst);
  else n = snprintf(tmp, sizeof tmp, "%.*s.%s.flatten-XXXXXX", (int)(slash + 1 - dst), dst, slash + 1);
  if (n < 0 || (size_t)n >= sizeof tmp) return -ENAMETOOLONG;
  r = qcow2__chain_open(&c, src);
  if (r != 0) {
    qcow2__chain_close(&c);
    return r;
  }
  fd = mkstemp(tmp); /* mode 0600 */
  if (fd < 0) r = -errno;
  if (r == 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) r = -errno;
  if (r == 0) r = write_image(&c, fd);
  if (r == 0) r = install(fd, tmp, dst, (flags & QCOW2_FLATTEN_NO_SYNC) == 0);
  if (fd >= 0 && close(fd) != 0 && r == 0) {
    r = -errno;
    unlink(dst);
  }
  if (fd >= 0 && r != 0) unlink(tmp);
  qcow2__chain_close(&c);
  return r;
}
