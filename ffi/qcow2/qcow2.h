/*
 * qcow2 - create qcow2 overlays and read or rewrite their headers.
 *
 * The small part of the qcow2 format boxlite needs on hosts without qemu-img:
 * thin overlays on a base disk, the backing-file path inside a header, and
 * merging a backing chain into one standalone image (for exports).
 * Format reference: qemu docs/interop/qcow2.txt.
 *
 * Every function returns 0 on success or a negative errno, with results in
 * caller-owned out-parameters. The library keeps no state and never prints.
 */
#ifndef QCOW2_H
#define QCOW2_H

#include <stddef.h>
#include <stdint.h>

/* Longest backing file name, in bytes without the NUL (qemu's limit). */
#define QCOW2_PATH_MAX 1023

/*
 * What qcow2_read_info() reports. The layout is part of the ABI: it is read
 * field by field at fixed offsets by src/disk/qcow2.ts (version 0,
 * cluster_bits 4, virtual_size 8, incompatible_features 16, backing_file 24,
 * backing_format 1048, size 1080); qcow2_info_size() lets it check.
 */
struct qcow2_info {
  uint32_t version;                      /* 2 or 3 */
  uint32_t cluster_bits;                 /* cluster size is 1 << cluster_bits */
  uint64_t virtual_size;                 /* bytes */
  uint64_t incompatible_features;        /* 0 for v2 */
  char backing_file[QCOW2_PATH_MAX + 1]; /* "" when none */
  char backing_format[32];               /* from the header extension; "" when absent */
};

/*
 * Create a qcow2 v3 image at `path` whose backing file is `backing_file`
 * (stored as given; a relative name is resolved against the directory of
 * `path`, as qemu does) in `backing_format`, "raw" or "qcow2".
 * `virtual_size` is in bytes and a multiple of 512; 0 means the backing
 * file's size (a raw file's length rounded up to 512, or a qcow2 file's
 * virtual size). The image has 64 KiB clusters and 16-bit refcounts, laid
 * out as qemu-img does, and is fsync'd before returning. On failure nothing
 * is left at `path`.
 *
 * Returns 0, or -EEXIST if `path` exists, -ENOENT if the backing file does
 * not, -EINVAL for a bad format name, size or empty backing name or a
 * backing file that is not valid qcow2 when it should be, -EISDIR for a
 * directory as a raw backing file, -ENAMETOOLONG for a backing name over
 * QCOW2_PATH_MAX bytes (any shorter one fits in the 64 KiB cluster 0),
 * -EFBIG for a size qemu could not open (over 2 PiB), or another -errno
 * from the file system. The file is created with mode 0600.
 */
int qcow2_create_overlay(const char *path, const char *backing_file,
                         const char *backing_format, uint64_t virtual_size);

/*
 * Read the header of the qcow2 v2 or v3 image at `path` into `*out`.
 * The file is untrusted: every offset and length is checked against the
 * file and cluster 0 before use.
 *
 * Returns 0, or -EINVAL if the file is not qcow2, is truncated or its
 * header is inconsistent, -ENOTSUP for a version other than 2 or 3, or
 * another -errno from opening or reading the file.
 */
int qcow2_read_info(const char *path, struct qcow2_info *out);

/*
 * Point the image at `path` to a new backing file, in place: the header
 * extensions are written again (keeping every extension other than the
 * backing format), followed by the new name, in one write to cluster 0,
 * then fsync. An empty `backing_file` removes the backing file; then
 * `backing_format` must be "" too. Otherwise it must be "raw" or "qcow2".
 * The backing file is not opened, so it need not exist yet.
 *
 * Returns 0, or -ENOSPC if the header would not fit in cluster 0 (the file
 * is unchanged), -ENAMETOOLONG, -EINVAL, -ENOTSUP as for the functions
 * above, or another -errno from the file system.
 */
int qcow2_set_backing(const char *path, const char *backing_file,
                      const char *backing_format);

/* Deepest backing chain qcow2_flatten() follows (qemu allows more; we need few). */
#define QCOW2_MAX_CHAIN 64

/*
 * Merge the qcow2 image at `src` and its whole backing chain into one
 * standalone, sparse qcow2 v3 image at `dst`: 64 KiB clusters, 16-bit
 * refcounts, no backing file, the virtual size of `src`, and only the
 * clusters that hold non-zero data allocated (what `qemu-img convert -O
 * qcow2` makes). The chain's images are qcow2 v2 or v3 with any cluster size
 * from 512 B to 2 MiB, over a qcow2 or raw bottom. A relative backing name is
 * resolved against the directory of the image naming it, as qemu does; a
 * backing file without a format extension is probed (qcow2 magic or raw), as
 * qemu does. Zero clusters, clusters no image allocates, and the range past a
 * backing image's virtual size read as zeros; holes in a raw file are skipped
 * without being read.
 *
 * Every image is untrusted: each offset and length is checked against its
 * file and tables, each L2 table is walked at most once (so time is bounded
 * by the files' sizes), and memory stays under a few MiB per image whatever
 * the disk size. `dst` is written under a hidden temporary name beside it
 * (mode 0600), fsync'd, linked into place without replacing anything, and
 * the directory fsync'd (unless `flags` has QCOW2_FLATTEN_NO_SYNC; other flag
 * bits are -EINVAL); on failure nothing is left at `dst` and no
 * temporary file remains. No progress is reported; the call blocks.
 *
 * Returns 0, or -EEXIST if `dst` exists, -ENOENT if `src` or a backing file
 * does not, -EINVAL if an image is not qcow2 where it must be, is truncated,
 * inconsistent or marked corrupt, or for NULL or empty paths, -ENOTSUP for
 * compressed clusters, encryption, an external data file, extended L2
 * entries, an unknown incompatible feature bit, a backing format other than
 * raw or qcow2, or a version other than 2 or 3, -ELOOP for a chain deeper
 * than QCOW2_MAX_CHAIN images (which is also how a cycle ends), -EFBIG if
 * `src` is larger than a qcow2 L1 table of 32 MiB can map (2 PiB) or an
 * image with tiny clusters is too large to track, -ENAMETOOLONG, -EISDIR for
 * a directory in the chain, -ENOMEM, or another -errno from the file system.
 */
int qcow2_flatten(const char *src, const char *dst, unsigned flags);

/* qcow2_flatten() flag: skip the fsyncs, for a scratch image read once and deleted (an
 * export's): the result is as whole to readers, only not durable across a host crash. */
#define QCOW2_FLATTEN_NO_SYNC 1u

/*
 * The size in bytes of the image qcow2_flatten_fd() writes for `src`, into
 * `*size`: the chain's tables are read (untrusted, as for qcow2_flatten()), its
 * data is not. The chain must not change until qcow2_flatten_fd() has run.
 *
 * Returns 0, or the errors of qcow2_flatten() that concern the chain (-EINVAL
 * also for a NULL `size`).
 */
int qcow2_flatten_size(const char *src, uint64_t *size);

/*
 * Write the standalone qcow2 v3 image of `src` and its backing chain to `fd`
 * strictly front to back with write(2), never seeking: `fd` may be a pipe, a
 * socket or a file (written at its offset). The image reads as the chain does
 * and has the layout of qcow2_flatten()'s (64 KiB clusters, 16-bit refcounts,
 * all 1, no backing file), but every cluster that an image of the chain
 * allocates is written, zeros included: which clusters hold data is decided
 * from the tables before any data is read, so that the L2 tables can precede
 * the data. Clusters no image allocates, zero clusters and holes in a raw
 * bottom are not written. The order is header, L1, L2 tables, data clusters
 * in virtual order, refcount blocks, refcount table.
 *
 * `size` must be what qcow2_flatten_size() reported for the same chain; then
 * exactly `size` bytes are written. The tables are read three times (plan, L2
 * tables, data), each L2 table at most once per pass; memory stays under a few
 * MiB per image plus a bit per 512 MiB of disk. A non-blocking `fd` is waited
 * on with poll(2). No progress is reported; the call blocks.
 *
 * Returns 0, or -ESTALE if the chain does not plan to `size` bytes (nothing is
 * written) or reads differently from its plan midway (the chain changed), the
 * errors of qcow2_flatten_size(), -EBADF for a negative `fd`, -ENOMEM, or the
 * -errno of a failed write (-EPIPE for a pipe whose reader left: the caller
 * ignores or blocks SIGPIPE). On failure `fd` has received a prefix of the
 * image, which the caller discards.
 */
int qcow2_flatten_fd(const char *src, int fd, uint64_t size);

/* The length of the SHA-256 digests below. */
#define QCOW2_SHA256_BYTES 32

/*
 * An export's disk member in one pass: the image qcow2_flatten_fd() would
 * write (same `size` contract), compressed as one zstd frame at `level` and
 * appended at `fd`'s offset, while its SHA-256 is written to `digest`
 * (QCOW2_SHA256_BYTES). The frame is the zstd command's: it records the
 * content size and a checksum of the content. `workers` threads compress (0:
 * the calling thread only); the digest is taken on a thread of its own. When
 * `fd` is a file, its writeback is started every 32 MiB (a hint: the caller
 * fsyncs). The chain must hold still until the call returns.
 *
 * Returns 0, the errors of qcow2_flatten_fd() (-EBADF for a negative `fd`),
 * -EINVAL for a NULL `digest` (zstd clamps `level` to its range), -ENOMEM, -EAGAIN if no
 * thread can be started, or -EIO if zstd or the hash fails. On failure `fd`
 * has received a prefix of the frame, which the caller discards.
 */
int qcow2_flatten_zstd(const char *src, int fd, uint64_t size, int level, int workers, uint8_t *digest);

/*
 * The same for the first `size` bytes of the file open at `in` (read with
 * pread, so its offset does not matter): one zstd frame appended at `fd`'s
 * offset, the SHA-256 in `digest`. Returns -ESTALE if the file does not hold
 * exactly `size` bytes (it changed), else as qcow2_flatten_zstd().
 */
int qcow2_zstd_file(int in, uint64_t size, int fd, int level, int workers, uint8_t *digest);

/* sizeof(struct qcow2_info), so a binding can check its copy of the layout. */
size_t qcow2_info_size(void);

#endif
