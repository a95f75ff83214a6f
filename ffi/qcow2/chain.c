/*
 * Reading a backing chain (qcow2 images over a qcow2 or raw bottom) as the top
 * image shows it, for qcow2_flatten() and qcow2_flatten_fd(); see chain.h.
 *
 * Every image is untrusted: offsets are checked against the file and the
 * tables, each L2 table may be walked once per image and pass (so a walk is
 * bounded by the files' sizes), and tables are read through fixed windows, so
 * memory does not grow with the disk.
 */
#define _GNU_SOURCE /* SEEK_DATA with glibc */

#include "chain.h"
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_SEEN_BYTES ((uint64_t)64 << 20)

/* L1 and L2 entries (qcow2.txt "Cluster mapping"). */
#define L2_COMPRESSED (1ull << 62)
#define L2_ZERO 1ull

/* Incompatible feature bits. Dirty only concerns refcounts, which we never read;
 * a compression type only matters with compressed clusters, refused one by one. */
#define INCOMPAT_DIRTY 1ull
#define INCOMPAT_CORRUPT 2ull
#define INCOMPAT_COMPRESSION 8ull

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

int qcow2__chain_resolve(struct chain *c, uint64_t p, uint64_t limit, struct run *x) {
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

/* Set has_data[first..last], counting the entries that were not set yet. */
static void mark(bool *has_data, uint64_t first, uint64_t last, uint64_t *marked) {
  for (uint64_t k = first; k <= last; k++) {
    if (marked != NULL && !has_data[k]) ++*marked;
    has_data[k] = true;
  }
}

int qcow2__chain_read(struct chain *c, uint8_t *buf, uint64_t v, uint64_t end, bool *has_data,
                      uint64_t *marked) {
  int fd = -1, r = 0;
  uint64_t host = 0, p = v;
  uint8_t *dst = buf;
  size_t len = 0;
  while (r == 0 && p < end) {
    struct run x;
    uint8_t *at = buf == NULL ? NULL : buf + (p - v);
    r = qcow2__chain_resolve(c, p, end, &x);
    if (r != 0) break;
    if (x.kind == RUN_ZERO) {
      if (buf != NULL) memset(at, 0, x.end - p);
    } else if (buf == NULL) {
      mark(has_data, (p - v) >> OUT_BITS, (x.end - 1 - v) >> OUT_BITS, marked);
    } else {
      if (len > 0 && (x.fd != fd || x.host != host + len || at != dst + len)) {
        r = read_run(fd, dst, len, host);
        len = 0;
      }
      if (len == 0) fd = x.fd, host = x.host, dst = at;
      len += x.end - p;
      mark(has_data, (p - v) >> OUT_BITS, (x.end - 1 - v) >> OUT_BITS, marked);
    }
    p = x.end;
  }
  if (r == 0) r = read_run(fd, dst, len, host);
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
    lv->seen_bytes = clusters / 8 + 1;
    if (r == 0 && (lv->seen = calloc(lv->seen_bytes, 1)) == NULL) r = -ENOMEM;
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

void qcow2__chain_close(struct chain *c) {
  for (int i = 0; i < c->depth; i++) {
    if (c->lv[i]->fd >= 0) close(c->lv[i]->fd);
    free(c->lv[i]->seen);
    free(c->lv[i]);
  }
  c->depth = 0;
}

int qcow2__chain_open(struct chain *c, const char *src) {
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

void qcow2__chain_rewind(struct chain *c) {
  for (int i = 0; i < c->depth; i++) {
    struct level *lv = c->lv[i];
    lv->l1.first = lv->l2.first = lv->l2_of = UINT64_MAX;
    lv->ext_start = lv->ext_end = 0;
    if (lv->seen != NULL) memset(lv->seen, 0, lv->seen_bytes);
  }
}
