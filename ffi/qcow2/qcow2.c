/*
 * qcow2 - see qcow2.h. Offsets and rules come from qemu docs/interop/qcow2.txt;
 * the layout of new images follows what qemu-img create writes.
 */
#define _POSIX_C_SOURCE 200809L

#include "qcow2.h"
#include "internal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define EXT_END 0u
#define EXT_BACKING_FORMAT 0xe2792acau
#define FORMAT_CAP sizeof(((struct qcow2_info *)0)->backing_format)

/* src/disk/qcow2.ts reads the struct at these offsets. */
static_assert(offsetof(struct qcow2_info, cluster_bits) == 4, "ABI");
static_assert(offsetof(struct qcow2_info, virtual_size) == 8, "ABI");
static_assert(offsetof(struct qcow2_info, incompatible_features) == 16, "ABI");
static_assert(offsetof(struct qcow2_info, backing_file) == 24, "ABI");
static_assert(offsetof(struct qcow2_info, backing_format) == 1048, "ABI");
static_assert(sizeof(struct qcow2_info) == 1080, "ABI");

struct ext {
  uint32_t type, len;
  size_t data; /* offset in the buffer */
};

/* Extension data is padded to a multiple of 8 bytes. */
static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

static bool is_known_format(const char *format) {
  return strcmp(format, "raw") == 0 || strcmp(format, "qcow2") == 0;
}

ssize_t qcow2__pread_full(int fd, uint8_t *buf, size_t len, uint64_t off) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) break;
    got += (size_t)n;
  }
  return (ssize_t)got;
}

int qcow2__pwrite_full(int fd, const uint8_t *buf, size_t len, uint64_t off) {
  size_t done = 0;
  while (done < len) {
    ssize_t n = pwrite(fd, buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    done += (size_t)n;
  }
  return 0;
}

/* The next extension before `limit`: 1 with *e set, 0 after the end marker or at
 * the limit, -EINVAL when an entry does not fit. Never trusts a length. */
static int ext_next(const uint8_t *buf, size_t limit, size_t *off, struct ext *e) {
  if (*off >= limit) return 0;
  if (limit - *off < 8) return -EINVAL;
  e->type = get_be32(buf + *off);
  e->len = get_be32(buf + *off + 4);
  if (e->type == EXT_END) {
    *off += 8;
    return 0;
  }
  if (e->len > limit - *off - 8) return -EINVAL;
  e->data = *off + 8;
  *off += 8 + pad8(e->len);
  return 1;
}

/* The L1 and refcount tables must lie in the file: if not, it was truncated. */
static int check_tables(const uint8_t *h, uint32_t cluster_bits, uint64_t file_size) {
  uint64_t cluster = (uint64_t)1 << cluster_bits;
  uint64_t l1_size = get_be32(h + H_L1_SIZE);
  uint64_t l1_off = get_be64(h + H_L1_OFFSET);
  uint64_t rt_off = get_be64(h + H_REFTABLE_OFFSET);
  uint64_t rt_bytes = (uint64_t)get_be32(h + H_REFTABLE_CLUSTERS) << cluster_bits;
  if (l1_entries(get_be64(h + H_SIZE), cluster_bits) > l1_size) return -EINVAL;
  if (l1_size > 0 && (l1_off % cluster != 0 || l1_off < cluster || l1_off > file_size ||
                      l1_size * 8 > file_size - l1_off))
    return -EINVAL;
  if (rt_bytes == 0 || rt_off % cluster != 0 || rt_off < cluster || rt_off > file_size ||
      rt_bytes > file_size - rt_off)
    return -EINVAL;
  return 0;
}

/* Backing file name and header extensions, checked against the bytes we have. */
static int parse_cluster0(struct image *img) {
  const uint8_t *buf = img->buf;
  uint64_t boff = get_be64(buf + H_BACKING_OFFSET);
  uint32_t blen = get_be32(buf + H_BACKING_SIZE);
  struct ext e;
  int r;
  img->ext_limit = img->len;
  if (boff != 0) {
    if (boff < img->header_len || boff > img->len || blen > QCOW2_PATH_MAX ||
        blen > img->len - boff || memchr(buf + boff, 0, blen) != NULL)
      return -EINVAL;
    img->backing_off = (size_t)boff;
    img->backing_len = blen;
    img->ext_limit = (size_t)boff; /* old v2 images put the name right after the header */
  }
  img->ext_end = img->header_len;
  while ((r = ext_next(buf, img->ext_limit, &img->ext_end, &e)) == 1) {
    if (e.type != EXT_BACKING_FORMAT) continue;
    if (e.len >= FORMAT_CAP || memchr(buf + e.data, 0, e.len) != NULL) return -EINVAL;
    img->format_off = e.data;
    img->format_len = e.len;
  }
  if (img->ext_end > img->ext_limit) img->ext_end = img->ext_limit; /* padding past the name */
  return r;
}

int qcow2__image_load(int fd, struct image *img) {
  uint8_t head[V3_MIN_HEADER_LEN];
  struct stat st;
  size_t cluster;
  ssize_t n;
  int r;
  memset(img, 0, sizeof *img);
  if (fstat(fd, &st) != 0) return -errno;
  n = qcow2__pread_full(fd, head, sizeof head, 0);
  if (n < 0) return (int)n;
  if ((size_t)n < V2_HEADER_LEN || get_be32(head) != QCOW2_MAGIC) return -EINVAL;
  img->version = get_be32(head + H_VERSION);
  if (img->version != 2 && img->version != 3) return -ENOTSUP;
  if (img->version == 3 && (size_t)n < V3_MIN_HEADER_LEN) return -EINVAL;
  img->cluster_bits = get_be32(head + H_CLUSTER_BITS);
  if (img->cluster_bits < 9 || img->cluster_bits > 21) return -EINVAL;
  cluster = (size_t)1 << img->cluster_bits;
  img->header_len = V2_HEADER_LEN;
  if (img->version == 3) {
    uint32_t hl = get_be32(head + H_HEADER_LENGTH);
    if (hl < V3_MIN_HEADER_LEN || hl % 8 != 0 || hl > cluster) return -EINVAL;
    img->header_len = hl;
    img->incompat = get_be64(head + H_INCOMPAT);
  }
  img->size = get_be64(head + H_SIZE);
  r = check_tables(head, img->cluster_bits, (uint64_t)st.st_size);
  if (r != 0) return r;
  img->buf = malloc(cluster);
  if (img->buf == NULL) return -ENOMEM;
  n = qcow2__pread_full(fd, img->buf, cluster, 0);
  r = n < 0 ? (int)n : 0;
  if (r == 0) img->len = (size_t)n;
  if (r == 0 && img->len < img->header_len) r = -EINVAL;
  if (r == 0) r = parse_cluster0(img);
  if (r != 0) {
    free(img->buf);
    img->buf = NULL;
  }
  return r;
}

static int put_ext(uint8_t *c0, size_t cluster, size_t *off, uint32_t type, const void *data,
                   size_t len) {
  if (cluster - *off < 8 + pad8(len)) return -ENOSPC;
  put_be32(c0 + *off, type);
  put_be32(c0 + *off + 4, (uint32_t)len);
  memcpy(c0 + *off + 8, data, len);
  *off += 8 + pad8(len);
  return 0;
}

/*
 * After the header in `c0` (zeroed past it), write the backing format
 * extension, the extensions of `old` other than the backing format (`old` is
 * NULL for a new image), the end marker and the backing file name, and point
 * the header at the name. *end is set past the last byte used.
 */
static int layout_cluster0(uint8_t *c0, size_t cluster, size_t header_len, const struct image *old,
                           const char *name, const char *format, size_t *end) {
  size_t off = header_len, name_len = strlen(name), old_off;
  struct ext e;
  int r = 0;
  if (*format != '\0') r = put_ext(c0, cluster, &off, EXT_BACKING_FORMAT, format, strlen(format));
  if (old != NULL) {
    old_off = old->header_len;
    while (r == 0 && ext_next(old->buf, old->ext_limit, &old_off, &e) == 1) {
      if (e.type != EXT_BACKING_FORMAT)
        r = put_ext(c0, cluster, &off, e.type, old->buf + e.data, e.len);
    }
  }
  if (r == 0) r = put_ext(c0, cluster, &off, EXT_END, "", 0);
  if (r == 0 && cluster - off < name_len) r = -ENOSPC;
  if (r != 0) return r;
  memcpy(c0 + off, name, name_len);
  put_be64(c0 + H_BACKING_OFFSET, name_len > 0 ? off : 0);
  put_be32(c0 + H_BACKING_SIZE, (uint32_t)name_len);
  *end = off + name_len;
  return 0;
}

int qcow2__backing_path(const char *image, const char *backing, char *out, size_t cap) {
  const char *slash = strrchr(image, '/');
  int n;
  if (backing[0] == '/' || slash == NULL) n = snprintf(out, cap, "%s", backing);
  else n = snprintf(out, cap, "%.*s/%s", (int)(slash - image), image, backing);
  return n < 0 || (size_t)n >= cap ? -ENAMETOOLONG : 0;
}

/* Open the backing file as qemu would (relative to the overlay's directory),
 * check it is in `format`, and report its size. */
static int backing_size(const char *overlay, const char *backing, const char *format,
                        uint64_t *size) {
  char open_path[PATH_MAX];
  struct image img;
  struct stat st;
  int fd, r = qcow2__backing_path(overlay, backing, open_path, sizeof open_path);
  if (r != 0) return r;
  fd = open(open_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  if (strcmp(format, "qcow2") == 0) {
    r = qcow2__image_load(fd, &img);
    if (r == 0) {
      *size = img.size;
      free(img.buf);
    }
  } else if (fstat(fd, &st) != 0) {
    r = -errno;
  } else if (S_ISDIR(st.st_mode)) {
    r = -EISDIR;
  } else {
    off_t end = lseek(fd, 0, SEEK_END); /* also right for block devices */
    if (end < 0) r = -errno;
    else *size = (uint64_t)end;
  }
  close(fd);
  return r;
}

/* Create `path` exclusively holding `data` then zeros up to `file_size`, durably;
 * remove it again on failure. 0600: a box's disk is its owner's business. */
static int write_new_file(const char *path, const uint8_t *data, size_t len, uint64_t file_size) {
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  int r;
  if (fd < 0) return -errno;
  r = qcow2__pwrite_full(fd, data, len, 0);
  if (r == 0 && ftruncate(fd, (off_t)file_size) != 0) r = -errno;
  if (r == 0 && fsync(fd) != 0) r = -errno;
  if (close(fd) != 0 && r == 0) r = -errno;
  if (r != 0) unlink(path);
  return r;
}

int qcow2_create_overlay(const char *path, const char *backing_file, const char *backing_format,
                         uint64_t virtual_size) {
  const size_t cluster = (size_t)1 << OVERLAY_CLUSTER_BITS;
  uint64_t size = virtual_size, backing, l1_size, l1_off, used;
  uint8_t *buf;
  size_t end;
  int r;
  if (path == NULL || backing_file == NULL || backing_format == NULL || *path == '\0' ||
      *backing_file == '\0' || !is_known_format(backing_format) || virtual_size % 512 != 0)
    return -EINVAL;
  if (strlen(backing_file) > QCOW2_PATH_MAX || strlen(path) >= PATH_MAX) return -ENAMETOOLONG;
  r = backing_size(path, backing_file, backing_format, &backing);
  if (r != 0) return r;
  if (size == 0) size = backing;
  l1_size = l1_entries(size, OVERLAY_CLUSTER_BITS);
  if (l1_size * 8 > MAX_L1_BYTES) return -EFBIG;
  size = (size + 511) & ~(uint64_t)511; /* qemu sees a raw file in whole sectors */
  /* Cluster 0 header, 1 refcount table, 2 first refcount block, 3.. L1 table. */
  buf = calloc(3, cluster);
  if (buf == NULL) return -ENOMEM;
  l1_off = l1_size > 0 ? 3 * cluster : 0;
  put_be32(buf, QCOW2_MAGIC), put_be32(buf + H_VERSION, 3);
  put_be32(buf + H_CLUSTER_BITS, OVERLAY_CLUSTER_BITS), put_be64(buf + H_SIZE, size);
  put_be32(buf + H_L1_SIZE, (uint32_t)l1_size), put_be64(buf + H_L1_OFFSET, l1_off);
  put_be64(buf + H_REFTABLE_OFFSET, cluster), put_be32(buf + H_REFTABLE_CLUSTERS, 1);
  put_be32(buf + H_REFCOUNT_ORDER, REFCOUNT_ORDER_16BIT);
  put_be32(buf + H_HEADER_LENGTH, V3_HEADER_LEN);
  r = layout_cluster0(buf, cluster, V3_HEADER_LEN, NULL, backing_file, backing_format, &end);
  if (r == 0) {
    /* At most 3 + 512 clusters: one block of 32768 16-bit refcounts covers them. */
    used = 3 + (l1_size * 8 + cluster - 1) / cluster;
    put_be64(buf + cluster, 2 * cluster);
    for (uint64_t i = 0; i < used; i++) put_be16(buf + 2 * cluster + 2 * i, 1);
    r = write_new_file(path, buf, 3 * cluster, 3 * cluster + l1_size * 8);
  }
  free(buf);
  return r;
}

int qcow2_read_info(const char *path, struct qcow2_info *out) {
  struct image img;
  int fd, r;
  if (path == NULL || out == NULL) return -EINVAL;
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  r = qcow2__image_load(fd, &img);
  close(fd);
  if (r != 0) return r;
  memset(out, 0, sizeof *out);
  out->version = img.version;
  out->cluster_bits = img.cluster_bits;
  out->virtual_size = img.size;
  out->incompatible_features = img.incompat;
  memcpy(out->backing_file, img.buf + img.backing_off, img.backing_len);
  memcpy(out->backing_format, img.buf + img.format_off, img.format_len);
  free(img.buf);
  return 0;
}

/* Write cluster 0 again with one pwrite, covering the old name and extensions so
 * no stale bytes remain, then make it durable. */
static int rewrite_cluster0(int fd, const struct image *img, const char *name, const char *format) {
  size_t cluster = (size_t)1 << img->cluster_bits, end = 0, old_end;
  uint8_t *c0 = calloc(1, cluster);
  int r;
  if (c0 == NULL) return -ENOMEM;
  memcpy(c0, img->buf, img->header_len);
  r = layout_cluster0(c0, cluster, img->header_len, img, name, format, &end);
  old_end = img->backing_off + img->backing_len;
  if (old_end < img->ext_end) old_end = img->ext_end;
  if (r == 0) r = qcow2__pwrite_full(fd, c0, end > old_end ? end : old_end, 0);
  if (r == 0 && fsync(fd) != 0) r = -errno;
  free(c0);
  return r;
}

int qcow2_set_backing(const char *path, const char *backing_file, const char *backing_format) {
  struct image img;
  int fd, r;
  if (path == NULL || backing_file == NULL || backing_format == NULL) return -EINVAL;
  if (*backing_file != '\0' ? !is_known_format(backing_format) : *backing_format != '\0')
    return -EINVAL;
  if (strlen(backing_file) > QCOW2_PATH_MAX) return -ENAMETOOLONG;
  fd = open(path, O_RDWR | O_CLOEXEC);
  if (fd < 0) return -errno;
  r = qcow2__image_load(fd, &img);
  if (r == 0) {
    r = rewrite_cluster0(fd, &img, backing_file, backing_format);
    free(img.buf);
  }
  if (close(fd) != 0 && r == 0) r = -errno;
  return r;
}

size_t qcow2_info_size(void) { return sizeof(struct qcow2_info); }
