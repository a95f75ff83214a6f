/*
 * qcow2_flatten - see qcow2.h. Reads a backing chain (qcow2 images over a qcow2
 * or raw bottom) and writes what the top shows as one standalone qcow2 v3.
 *
 * Every image is untrusted: offsets are checked against the file and the
 * tables, each L2 table may be walked once per image (so the walk is bounded by
 * the files' sizes), and tables are read through fixed windows, so memory does
 * not grow with the disk. The output is written front to back: header, an L1
 * table (sparse until its entries are written), then data clusters and L2
 * tables as they fill, then the refcounts, which are all 1.
 */
#define _GNU_SOURCE /* pwritev, SEEK_DATA with glibc */

#include <stdbool.h>
#include "internal.h"
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_CHAIN QCOW2_MAX_CHAIN
#define OUT_BITS OVERLAY_CLUSTER_BITS
#define OUT_CLUSTER ((uint64_t)1 << OUT_BITS)
#define OUT_L2_ENTRIES (OUT_CLUSTER / 8)
#define OUT_L1_SPAN (OUT_CLUSTER * OUT_L2_ENTRIES) /* virtual bytes one output L2 table maps */
#define REFCOUNTS_PER_BLOCK (OUT_CLUSTER / 2)     /* 16-bit refcounts */
#define BATCH_CLUSTERS 64                         /* 4 MiB read, checked and written at once */
#define WINDOW_ENTRIES 8192                       /* 64 KiB of a table in memory per window */
#define MAX_SEEN_BYTES ((uint64_t)64 << 20)

/* L1 and L2 entries (qcow2.txt "Cluster mapping"). */
#define OFFSET_MASK 0x00fffffffffffe00ull
#define L2_COMPRESSED (1ull << 62)
#define L2_ZERO 1ull
#define OFLAG_COPIED (1ull << 63) /* refcount is exactly 1, as qemu-img check expects */

/* Incompatible feature bits. Dirty only concerns refcounts, which we never read;
 * a compression type only matters with compressed clusters, refused one by one. */
#define INCOMPAT_DIRTY 1ull
#define INCOMPAT_CORRUPT 2ull
#define INCOMPAT_COMPRESSION 8ull

enum format { FMT_PROBE, FMT_RAW, FMT_QCOW2 };
enum run_kind { RUN_ZERO, RUN_DATA };

/* A window onto a table of big-endian 64-bit entries in a file. */
struct window {
  uint64_t base;  /* file offset of entry 0 */
  uint64_t count; /* entries in the table */
  uint64_t first; /* index of e[0]; UINT64_MAX when nothing is loaded */
  uint64_t n;
  uint64_t e[WINDOW_ENTRIES];
};

/* One image of the chain, 0 the top. */
struct level {
  int fd;
  bool raw;
  uint32_t version, cluster_bits;
  uint64_t size, file_size;
  struct window l1, l2;
  uint64_t l2_of; /* L1 index whose table is in l2; UINT64_MAX none */
  uint8_t *seen;  /* a bit per cluster of the file: L2 tables already walked */
  uint64_t ext_start, ext_end; /* raw: the data or hole extent last found */
  bool ext_data;
  char path[PATH_MAX];
};

struct chain {
  struct level *lv[MAX_CHAIN];
  int depth;
};

/* What the top image shows from a virtual offset up to `end`. */
struct run {
  enum run_kind kind;
  uint64_t end;
  int fd;        /* RUN_DATA: the bytes are at `host` in this file */
  uint64_t host;
};

struct out {
  int fd;
  uint64_t next;   /* end of the used clusters: new ones are appended */
  uint64_t l1_off;
  uint64_t l2_of;  /* L1 index of the table in l2; UINT64_MAX none */
  uint8_t *l2;     /* OUT_CLUSTER bytes */
  uint8_t *buf;    /* BATCH_CLUSTERS * OUT_CLUSTER bytes */
};

static int window_get(int fd, struct window *w, uint64_t i, uint64_t *out) {
  if (w->first == UINT64_MAX || i < w->first || i - w->first >= w->n) {
    uint8_t *bytes = (uint8_t *)w->e;
    uint64_t first = i - i % WINDOW_ENTRIES, n = w->count - first;
    ssize_t got;
    if (n > WINDOW_ENTRIES) n = WINDOW_ENTRIES;
    got = qcow2__pread_full(fd, bytes, n * 8, w->base + first * 8);
    if (got < 0) return (int)got;
    if ((uint64_t)got != n * 8) return -EINVAL; /* checked against the size: it shrank */
    for (uint64_t j = 0; j < n; j++) w->e[j] = get_be64(bytes + 8 * j);
    w->first = first;
    w->n = n;
  }
  *out = w->e[i - w->first];
  return 0;
}

/* The L2 entry of level `lv` for virtual offset `p` (< lv->size), 0 when its
 * L1 entry is empty, and the end of the range that entry maps. */
static int lookup(struct level *lv, uint64_t p, uint64_t *entry, uint64_t *end) {
  uint32_t cb = lv->cluster_bits;
  uint64_t cluster = (uint64_t)1 << cb, l1_shift = 2 * cb - 3, l1_index = p >> l1_shift;
  uint64_t l1e, l2_off, host;
  int r = window_get(lv->fd, &lv->l1, l1_index, &l1e);
  if (r != 0) return r;
  *entry = 0;
  l2_off = l1e & OFFSET_MASK;
  if (l2_off == 0) {
    *end = (l1_index + 1) << l1_shift;
    return 0;
  }
  if (lv->l2_of != l1_index) {
    uint64_t c = l2_off >> cb;
    if (l2_off % cluster != 0 || lv->file_size < cluster || l2_off > lv->file_size - cluster)
      return -EINVAL;
    /* Offsets only grow, so a table met twice is mapped twice: corrupt, and the
     * way a small file could make the walk as long as a petabyte disk. */
    if (lv->seen[c / 8] & (1u << (c % 8))) return -EINVAL;
    lv->seen[c / 8] |= (uint8_t)(1u << (c % 8));
    lv->l2.base = l2_off;
    lv->l2.first = UINT64_MAX;
    lv->l2_of = l1_index;
  }
  r = window_get(lv->fd, &lv->l2, (p >> cb) & (lv->l2.count - 1), entry);
  if (r != 0) return r;
  *end = ((p >> cb) + 1) << cb;
  if (*entry & L2_COMPRESSED) return -ENOTSUP;
  if (*entry & L2_ZERO) return lv->version < 3 ? -EINVAL : 0;
  host = *entry & OFFSET_MASK;
  /* A cluster cut short by the end of the file reads as zeros past it, as in qemu. */
  if (host != 0 && (host % cluster != 0 || host >= lv->file_size)) return -EINVAL;
  return 0;
}

/* Whether offset `p` (< lv->size) of a raw level is data or a hole, and where that
 * ends: holes read as zeros without being read, as qemu-img convert skips them. */
static void raw_extent(struct level *lv, uint64_t p, bool *data, uint64_t *end) {
  if (p < lv->ext_start || p >= lv->ext_end) {
    lv->ext_start = p, lv->ext_end = lv->size, lv->ext_data = true;
#ifdef SEEK_DATA
    /* Any failure but ENXIO (no data after p) leaves it all data: slower, not wrong. */
    off_t d = lseek(lv->fd, (off_t)p, SEEK_DATA), h;
    if (d < 0 && errno == ENXIO) {
      lv->ext_data = false;
    } else if (d > (off_t)p) {
      lv->ext_data = false;
      if ((uint64_t)d < lv->ext_end) lv->ext_end = (uint64_t)d;
    } else if (d == (off_t)p && (h = lseek(lv->fd, (off_t)p, SEEK_HOLE)) > (off_t)p &&
               (uint64_t)h < lv->ext_end) {
      lv->ext_end = (uint64_t)h;
    }
#endif
  }
  *data = lv->ext_data;
  *end = lv->ext_end;
}

/* What the chain shows at virtual offset `p`, for as far as it stays the same kind
 * of thing in every image consulted, but not past `limit`. */
static int resolve(struct chain *c, uint64_t p, uint64_t limit, struct run *x) {
  x->kind = RUN_ZERO;
  for (int i = 0; i < c->depth; i++) {
    struct level *lv = c->lv[i];
    uint64_t entry, end;
    int r;
    if (p >= lv->size) break; /* past a backing image's end: zeros */
    if (limit > lv->size) limit = lv->size;
    if (lv->raw) {
      bool data;
      raw_extent(lv, p, &data, &end);
      if (end < limit) limit = end;
      if (data) x->kind = RUN_DATA, x->fd = lv->fd, x->host = p;
      break;
    }
    r = lookup(lv, p, &entry, &end);
    if (r != 0) return r;
    if (end < limit) limit = end;
    if (entry & L2_ZERO) break;
    if (entry & OFFSET_MASK) {
      x->kind = RUN_DATA, x->fd = lv->fd;
      x->host = (entry & OFFSET_MASK) + (p & (((uint64_t)1 << lv->cluster_bits) - 1));
      break;
    }
  }
  x->end = limit;
  return 0;
}

/* Read `len` bytes at `host`; what lies past the end of the file reads as zeros. */
static int read_run(int fd, uint8_t *dst, size_t len, uint64_t host) {
  ssize_t n;
  if (len == 0) return 0;
  n = qcow2__pread_full(fd, dst, len, host);
  if (n < 0) return (int)n;
  memset(dst + n, 0, len - (size_t)n);
  return 0;
}

/* Fill o->buf with virtual bytes [v, end) of the chain, reading adjacent runs of
 * one file at once; has_data[k] tells which output clusters any data touched. */
static int fill_batch(struct chain *c, struct out *o, uint64_t v, uint64_t end, bool *has_data) {
  int fd = -1, r = 0;
  uint64_t host = 0, p = v;
  uint8_t *dst = o->buf;
  size_t len = 0;
  while (r == 0 && p < end) {
    struct run x;
    uint8_t *at = o->buf + (p - v);
    r = resolve(c, p, end, &x);
    if (r != 0) break;
    if (x.kind == RUN_ZERO) {
      memset(at, 0, x.end - p);
    } else {
      if (len > 0 && (x.fd != fd || x.host != host + len || at != dst + len)) {
        r = read_run(fd, dst, len, host);
        len = 0;
      }
      if (len == 0) fd = x.fd, host = x.host, dst = at;
      len += x.end - p;
      for (uint64_t k = (p - v) >> OUT_BITS; k <= (x.end - 1 - v) >> OUT_BITS; k++) has_data[k] = true;
    }
    p = x.end;
  }
  if (r == 0) r = read_run(fd, dst, len, host);
  return r;
}

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
    int r = resolve(c, v, size, &x);
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
    r = fill_batch(c, o, v, end, has_data);
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

/* Header checks beyond qcow2__image_load's, for reading the clusters. */
static int open_qcow2(struct level *lv, char *backing, enum format *backing_format) {
  struct image img;
  struct stat st;
  uint64_t clusters;
  int r = qcow2__image_load(lv->fd, &img);
  if (r != 0) return r;
  if (fstat(lv->fd, &st) != 0) r = -errno;
  else if (get_be32(img.buf + H_CRYPT_METHOD) != 0) r = -ENOTSUP;
  else if (img.incompat & INCOMPAT_CORRUPT) r = -EINVAL; /* qemu found it inconsistent */
  else if (img.incompat & ~(INCOMPAT_DIRTY | INCOMPAT_COMPRESSION)) r = -ENOTSUP;
  if (r == 0) {
    const char *format = (const char *)img.buf + img.format_off;
    lv->version = img.version, lv->cluster_bits = img.cluster_bits, lv->size = img.size;
    lv->file_size = (uint64_t)st.st_size;
    lv->l1.base = get_be64(img.buf + H_L1_OFFSET), lv->l1.count = get_be32(img.buf + H_L1_SIZE);
    lv->l1.first = UINT64_MAX;
    lv->l2.count = ((uint64_t)1 << img.cluster_bits) / 8, lv->l2.first = UINT64_MAX;
    lv->l2_of = UINT64_MAX;
    memcpy(backing, img.buf + img.backing_off, img.backing_len);
    backing[img.backing_len] = '\0';
    *backing_format = FMT_PROBE; /* no extension: qemu probes */
    if (img.format_len == 3 && memcmp(format, "raw", 3) == 0) *backing_format = FMT_RAW;
    else if (img.format_len == 5 && memcmp(format, "qcow2", 5) == 0) *backing_format = FMT_QCOW2;
    else if (img.format_len > 0) r = -ENOTSUP;
    clusters = (lv->file_size >> img.cluster_bits) + 1;
    if (r == 0 && clusters / 8 + 1 > MAX_SEEN_BYTES) r = -EFBIG;
    if (r == 0 && (lv->seen = calloc(clusters / 8 + 1, 1)) == NULL) r = -ENOMEM;
  }
  free(img.buf);
  return r;
}

/* Open the image at `path` as the next level; `backing` gets its backing name. */
static int open_level(struct chain *c, const char *path, enum format format, char *backing,
                      enum format *backing_format) {
  struct level *lv = calloc(1, sizeof *lv);
  struct stat st;
  uint8_t magic[4];
  off_t end;
  if (lv == NULL) return -ENOMEM;
  lv->fd = -1;
  c->lv[c->depth++] = lv;
  if (strlen(path) >= sizeof lv->path) return -ENAMETOOLONG;
  strcpy(lv->path, path);
  lv->fd = open(path, O_RDONLY | O_CLOEXEC);
  if (lv->fd < 0) return -errno;
  if (fstat(lv->fd, &st) != 0) return -errno;
  if (S_ISDIR(st.st_mode)) return -EISDIR;
#ifdef POSIX_FADV_SEQUENTIAL
  posix_fadvise(lv->fd, 0, 0, POSIX_FADV_SEQUENTIAL); /* a hint: its failure changes nothing */
#endif
  if (format == FMT_PROBE) {
    ssize_t n = qcow2__pread_full(lv->fd, magic, sizeof magic, 0);
    if (n < 0) return (int)n;
    format = n == 4 && get_be32(magic) == QCOW2_MAGIC ? FMT_QCOW2 : FMT_RAW;
  }
  backing[0] = '\0';
  if (format == FMT_QCOW2) return open_qcow2(lv, backing, backing_format);
  end = lseek(lv->fd, 0, SEEK_END); /* also right for a block device */
  if (end < 0) return -errno;
  lv->raw = true;
  lv->size = lv->file_size = (uint64_t)end;
  return 0;
}

static void close_chain(struct chain *c) {
  for (int i = 0; i < c->depth; i++) {
    if (c->lv[i]->fd >= 0) close(c->lv[i]->fd);
    free(c->lv[i]->seen);
    free(c->lv[i]);
  }
  c->depth = 0;
}

static int open_chain(struct chain *c, const char *src) {
  char backing[QCOW2_PATH_MAX + 1], next[PATH_MAX];
  enum format format = FMT_QCOW2;
  int r = open_level(c, src, format, backing, &format);
  while (r == 0 && backing[0] != '\0') {
    if (c->depth == MAX_CHAIN) return -ELOOP; /* also how a cycle ends */
    r = qcow2__backing_path(c->lv[c->depth - 1]->path, backing, next, sizeof next);
    if (r == 0) r = open_level(c, next, format, backing, &format);
  }
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
  r = open_chain(&c, src);
  if (r != 0) {
    close_chain(&c);
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
  close_chain(&c);
  return r;
}
