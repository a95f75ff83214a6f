/*
 * qcow2_flatten_size and qcow2_flatten_fd - see qcow2.h. The image is written
 * strictly front to back, so it can go down a pipe: a first pass over the
 * chain's tables (no data is read) decides which output clusters hold data,
 * which fixes the whole layout before the first byte is written:
 *
 *   header | L1 | L2 tables, in L1 order | data clusters, in virtual order |
 *   refcount blocks | refcount table
 *
 * A second pass over the tables writes the L2 tables, a third reads and writes
 * the data. Each pass walks every L2 table at most once (chain.h), and the
 * plan keeps one bit per L1 entry (at most 512 KiB for the 32 MiB L1 qemu
 * allows), so time and memory stay bounded as for qcow2_flatten.
 */
#define _GNU_SOURCE

#include "chain.h"
#include "internal.h"
#include "qcow2.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

struct plan {
  uint64_t size;      /* virtual */
  uint64_t l1_size;   /* entries */
  uint64_t l1_clusters, tables, data, blocks, reftables;
  uint64_t total;     /* clusters in the image */
  uint8_t *used;      /* a bit per L1 entry: its span holds data, so it has an L2 table */
};

/* Where things start, in clusters. */
static uint64_t l2_start(const struct plan *p) { return 1 + p->l1_clusters; }
static uint64_t data_start(const struct plan *p) { return l2_start(p) + p->tables; }
static uint64_t refcount_start(const struct plan *p) { return data_start(p) + p->data; }

static bool span_used(const struct plan *p, uint64_t i) { return p->used[i / 8] & (1u << (i % 8)); }

/* Which output clusters of L1 entry `i`'s span hold data, from the tables alone:
 * has[OUT_L2_ENTRIES], all false on entry, is marked and the count returned (or
 * -errno). The caller clears what was marked. */
static int64_t scan_span(struct chain *c, const struct plan *p, uint64_t i, bool *has) {
  uint64_t v = i * OUT_L1_SPAN, end = v + OUT_L1_SPAN, count = 0;
  int r;
  if (end > p->size) end = p->size;
  r = qcow2__chain_read(c, NULL, v, end, has, &count);
  return r != 0 ? r : (int64_t)count;
}

/* The first pass: the layout, from the tables alone. */
static int make_plan(struct chain *c, struct plan *p, bool *has) {
  uint64_t total;
  p->size = c->lv[0]->size;
  p->l1_size = l1_entries(p->size, OUT_BITS);
  if (p->l1_size * 8 > MAX_L1_BYTES) return -EFBIG;
  p->l1_clusters = (p->l1_size * 8 + OUT_CLUSTER - 1) >> OUT_BITS;
  p->used = calloc(p->l1_size / 8 + 1, 1);
  if (p->used == NULL) return -ENOMEM;
  for (uint64_t i = 0; i < p->l1_size; i++) {
    int64_t n = scan_span(c, p, i, has);
    if (n < 0) return (int)n;
    if (n == 0) continue;
    memset(has, 0, OUT_L2_ENTRIES * sizeof *has);
    p->used[i / 8] |= (uint8_t)(1u << (i % 8));
    p->tables++, p->data += (uint64_t)n;
  }
  /* Refcount blocks and tables count themselves: iterate to the fixed point. */
  for (;;) {
    uint64_t b, t;
    total = refcount_start(p) + p->blocks + p->reftables;
    b = (total + REFCOUNTS_PER_BLOCK - 1) / REFCOUNTS_PER_BLOCK;
    t = (b + OUT_L2_ENTRIES - 1) / OUT_L2_ENTRIES;
    if (b == p->blocks && t == p->reftables) break;
    p->blocks = b, p->reftables = t;
  }
  p->total = total;
  return 0;
}

static int plan_chain(const char *src, struct chain *c, struct plan *p, bool **has) {
  int r;
  if (src == NULL || *src == '\0') return -EINVAL;
  *has = calloc(OUT_L2_ENTRIES, sizeof **has);
  if (*has == NULL) return -ENOMEM;
  r = qcow2__chain_open(c, src);
  if (r == 0) r = make_plan(c, p, *has);
  return r;
}

/* The descriptor sink: write(2) only, so a pipe works; waits when a non-blocking one is full. */
struct fd_sink {
  struct sink base;
  int fd;
};

static int fd_writev(struct sink *base, struct iovec *iov, int count) {
  struct fd_sink *s = (struct fd_sink *)base;
  while (count > 0) {
    ssize_t n = writev(s->fd, iov, count);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd pfd = {s->fd, POLLOUT, 0};
      if (poll(&pfd, 1, -1) < 0 && errno != EINTR) return -errno;
      continue;
    }
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    while (count > 0 && (size_t)n >= iov->iov_len) n -= (ssize_t)iov->iov_len, iov++, count--;
    if (count > 0) iov->iov_base = (uint8_t *)iov->iov_base + n, iov->iov_len -= (size_t)n;
  }
  return 0;
}

static int sink_writev(struct sink *s, struct iovec *iov, int count) {
  for (int i = 0; i < count; i++) s->written += iov[i].iov_len;
  return s->writev(s, iov, count);
}

static int sink_write(struct sink *s, const uint8_t *buf, size_t len) {
  struct iovec iov = {(void *)buf, len};
  return sink_writev(s, &iov, 1);
}

/* Header cluster, then the L1 table, built a cluster at a time. */
static int write_head(struct sink *s, const struct plan *p, uint8_t *c) {
  uint64_t l2 = l2_start(p);
  int r;
  memset(c, 0, OUT_CLUSTER);
  put_be32(c, QCOW2_MAGIC), put_be32(c + H_VERSION, 3);
  put_be32(c + H_CLUSTER_BITS, OUT_BITS), put_be64(c + H_SIZE, p->size);
  put_be32(c + H_L1_SIZE, (uint32_t)p->l1_size), put_be64(c + H_L1_OFFSET, p->l1_size > 0 ? OUT_CLUSTER : 0);
  put_be64(c + H_REFTABLE_OFFSET, (refcount_start(p) + p->blocks) << OUT_BITS);
  put_be32(c + H_REFTABLE_CLUSTERS, (uint32_t)p->reftables);
  put_be32(c + H_REFCOUNT_ORDER, REFCOUNT_ORDER_16BIT), put_be32(c + H_HEADER_LENGTH, V3_HEADER_LEN);
  r = sink_write(s, c, OUT_CLUSTER);
  for (uint64_t k = 0; r == 0 && k < p->l1_clusters; k++) {
    memset(c, 0, OUT_CLUSTER);
    for (uint64_t e = 0; e < OUT_L2_ENTRIES && k * OUT_L2_ENTRIES + e < p->l1_size; e++)
      if (span_used(p, k * OUT_L2_ENTRIES + e)) put_be64(c + 8 * e, (l2++ << OUT_BITS) | OFLAG_COPIED);
    r = sink_write(s, c, OUT_CLUSTER);
  }
  return r;
}

/* The second pass: the L2 tables of the used spans, data clusters numbered in order.
 * A span that now scans differently means the chain changed since the plan. */
static int write_l2_tables(struct chain *c, struct sink *s, const struct plan *p, bool *has, uint8_t *l2) {
  uint64_t next = data_start(p), end = next + p->data;
  qcow2__chain_rewind(c);
  for (uint64_t i = 0; i < p->l1_size; i++) {
    int64_t n;
    int r;
    if (!span_used(p, i)) continue;
    n = scan_span(c, p, i, has);
    if (n < 0) return (int)n;
    if (n == 0 || (uint64_t)n > end - next) return -ESTALE;
    memset(l2, 0, OUT_CLUSTER);
    for (uint64_t k = 0; k < OUT_L2_ENTRIES; k++)
      if (has[k]) put_be64(l2 + 8 * k, (next++ << OUT_BITS) | OFLAG_COPIED), has[k] = false;
    r = sink_write(s, l2, OUT_CLUSTER);
    if (r != 0) return r;
  }
  return next == end ? 0 : -ESTALE;
}

/* The third pass: the data clusters of the used spans in virtual order, read a
 * batch at a time and written with one writev per batch. */
static int write_data(struct chain *c, struct sink *s, const struct plan *p, uint8_t *buf) {
  bool has[BATCH_CLUSTERS];
  uint64_t left = p->data;
  qcow2__chain_rewind(c);
  for (uint64_t i = 0; i < p->l1_size; i++) {
    uint64_t span_end = (i + 1) * OUT_L1_SPAN;
    if (!span_used(p, i)) continue;
    if (span_end > p->size) span_end = p->size;
    for (uint64_t v = i * OUT_L1_SPAN; v < span_end;) {
      struct iovec iov[BATCH_CLUSTERS];
      uint64_t end = v + BATCH_CLUSTERS * OUT_CLUSTER, clusters;
      int count = 0, r;
      if (end > span_end) end = span_end;
      clusters = (end - v + OUT_CLUSTER - 1) >> OUT_BITS;
      memset(has, 0, sizeof has);
      r = qcow2__chain_read(c, buf, v, end, has, NULL);
      if (r != 0) return r;
      if ((end - v) % OUT_CLUSTER != 0) /* the disk ends inside the last cluster */
        memset(buf + (end - v), 0, OUT_CLUSTER - (end - v) % OUT_CLUSTER);
      for (uint64_t k = 0; k < clusters; k++) {
        uint8_t *data = buf + (k << OUT_BITS);
        if (!has[k]) continue;
        if (left-- == 0) return -ESTALE;
        if (count > 0 && (uint8_t *)iov[count - 1].iov_base + iov[count - 1].iov_len == data) {
          iov[count - 1].iov_len += OUT_CLUSTER;
        } else {
          iov[count].iov_base = data, iov[count].iov_len = OUT_CLUSTER;
          count++;
        }
      }
      r = sink_writev(s, iov, count);
      if (r != 0) return r;
      v = end;
    }
  }
  return left == 0 ? 0 : -ESTALE;
}

/* Refcount blocks (every cluster, these included, has refcount 1), then the table. */
static int write_refcounts(struct sink *s, const struct plan *p, uint8_t *c) {
  uint64_t first = refcount_start(p);
  int r = 0;
  for (uint64_t i = 0; i < REFCOUNTS_PER_BLOCK; i++) put_be16(c + 2 * i, 1);
  for (uint64_t i = 0; r == 0 && i < p->blocks; i++) {
    uint64_t left = p->total - i * REFCOUNTS_PER_BLOCK;
    if (left < REFCOUNTS_PER_BLOCK) memset(c + 2 * left, 0, 2 * (REFCOUNTS_PER_BLOCK - left));
    r = sink_write(s, c, OUT_CLUSTER);
  }
  for (uint64_t t = 0; r == 0 && t < p->reftables; t++) {
    memset(c, 0, OUT_CLUSTER);
    for (uint64_t e = 0; e < OUT_L2_ENTRIES && t * OUT_L2_ENTRIES + e < p->blocks; e++)
      put_be64(c + 8 * e, (first + t * OUT_L2_ENTRIES + e) << OUT_BITS);
    r = sink_write(s, c, OUT_CLUSTER);
  }
  return r;
}

int qcow2_flatten_size(const char *src, uint64_t *size) {
  struct chain c = {{NULL}, 0};
  struct plan p = {0};
  bool *has = NULL;
  int r;
  if (size == NULL) return -EINVAL;
  r = plan_chain(src, &c, &p, &has);
  if (r == 0) *size = p.total << OUT_BITS;
  qcow2__chain_close(&c);
  free(p.used), free(has);
  return r;
}

int qcow2__flatten_to(const char *src, uint64_t size, struct sink *s) {
  struct chain c = {{NULL}, 0};
  struct plan p = {0};
  bool *has = NULL;
  uint8_t *cluster = NULL, *buf = NULL;
  int r = plan_chain(src, &c, &p, &has);
  if (r == 0 && p.total << OUT_BITS != size) r = -ESTALE;
  if (r == 0) {
    cluster = malloc(OUT_CLUSTER);
    buf = malloc(BATCH_CLUSTERS * OUT_CLUSTER);
    if (cluster == NULL || buf == NULL) r = -ENOMEM;
  }
  if (r == 0) r = write_head(s, &p, cluster);
  if (r == 0) r = write_l2_tables(&c, s, &p, has, cluster);
  if (r == 0) r = write_data(&c, s, &p, buf);
  if (r == 0) r = write_refcounts(s, &p, cluster);
  if (r == 0 && s->written != size) r = -EIO; /* cannot happen: each part is counted */
  qcow2__chain_close(&c);
  free(p.used), free(has), free(cluster), free(buf);
  return r;
}

int qcow2_flatten_fd(const char *src, int fd, uint64_t size) {
  struct fd_sink s = {{fd_writev, 0}, fd};
  if (fd < 0) return -EBADF;
  return qcow2__flatten_to(src, size, &s.base);
}
