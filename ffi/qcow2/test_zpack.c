/*
 * Tests for qcow2_flatten_zstd and qcow2_zstd_file: each frame is decompressed
 * with libzstd's one-shot decoder and compared with qcow2_flatten_fd's image or
 * the file, and the digest with OpenSSL's one-shot SHA-256. Run under the
 * sanitizers with the rest (the hash thread included).
 */
#define _POSIX_C_SOURCE 200809L

#include "qcow2.h"
#include "test_qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

/* The frame after `skip` bytes of `path`, decompressed into *out (its size must be the frame's). */
static int unpack(const char *path, size_t skip, uint8_t **out, size_t *len) {
  size_t cap = 64u << 20;
  uint8_t *file = malloc(cap);
  ssize_t n = file == NULL ? -1 : get_file(path, file, cap);
  unsigned long long size;
  int r = -EIO;
  if (n < 0 || (size_t)n < skip) goto done;
  size = ZSTD_getFrameContentSize(file + skip, (size_t)n - skip);
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN) goto done;
  *out = malloc(size + 1);
  if (*out == NULL) goto done;
  *len = ZSTD_decompress(*out, size + 1, file + skip, (size_t)n - skip);
  r = ZSTD_isError(*len) || *len != size ? -EIO : 0;
done:
  free(file);
  return r;
}

static int same_digest(const uint8_t *data, size_t len, const uint8_t *digest) {
  uint8_t want[SHA256_DIGEST_LENGTH];
  SHA256(data, len, want);
  return memcmp(want, digest, sizeof want) == 0;
}

/* `prefix` bytes of 0xee, then the frame: what the archive writer does. */
static int open_out(const char *path, size_t prefix) {
  uint8_t pad[64];
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  memset(pad, 0xee, sizeof pad);
  if (fd >= 0 && write(fd, pad, prefix) != (ssize_t)prefix) close(fd), fd = -1;
  return fd;
}

static void test_chain(struct tally *t, const char *dir) {
  char top[512], out[512], ref[512];
  uint8_t digest[QCOW2_SHA256_BYTES], *image = NULL, *want = malloc(8u << 20);
  size_t len = 0;
  uint64_t size = 0;
  ssize_t want_len = -1;
  int fd, r;
  make_chain(dir);
  in_dir(dir, "top.qcow2", top), in_dir(dir, "zpack-chain.zst", out), in_dir(dir, "zpack-ref.qcow2", ref);
  fd = open_out(out, 7);
  r = qcow2_flatten_size(top, &size) == 0 ? qcow2_flatten_zstd(top, fd, size, 3, 2, digest) : -EIO;
  close(fd);
  if (want != NULL && flatten_fd_to_file(top, ref) == 0) want_len = get_file(ref, want, 8u << 20);
  check(t, "qcow2_flatten_zstd appends one frame after what the descriptor held", r == 0 && unpack(out, 7, &image, &len) == 0);
  check(t, "the frame holds qcow2_flatten_fd's image, byte for byte",
        image != NULL && want_len >= 0 && len == size && (size_t)want_len == len && memcmp(image, want, len) == 0);
  check(t, "the digest is the image's SHA-256", image != NULL && same_digest(image, len, digest));
  fd = open_out(out, 0);
  check(t, "a size other than the plan's is ESTALE, and nothing is written",
        qcow2_flatten_zstd(top, fd, size + CLUSTER, 3, 2, digest) == -ESTALE && lseek(fd, 0, SEEK_CUR) == 0);
  check(t, "a negative fd and a NULL digest are refused",
        qcow2_flatten_zstd(top, -1, size, 3, 2, digest) == -EBADF && qcow2_flatten_zstd(top, fd, size, 3, 2, NULL) == -EINVAL);
  close(fd);
  free(image), free(want);
  unlink(out), unlink(ref);
}

static void test_file(struct tally *t, const char *dir) {
  char src[512], out[512];
  size_t size = (9u << 20) + 7, len = 0; /* more than one 4 MiB read, and uneven */
  uint8_t digest[QCOW2_SHA256_BYTES], *data = malloc(size), *back = NULL;
  uint64_t seed = 42;
  int in, fd, r;
  for (size_t i = 0; data != NULL && i < size; i++) data[i] = (uint8_t)(i % 4096 == 0 ? next_rand(&seed) : i % 7);
  put_file(in_dir(dir, "zpack.state", src), data, size, (off_t)size);
  in = open(src, O_RDONLY);
  fd = open_out(in_dir(dir, "zpack-file.zst", out), 3);
  r = qcow2_zstd_file(in, size, fd, 3, 2, digest);
  close(fd);
  check(t, "qcow2_zstd_file compresses a file into one frame of its bytes",
        r == 0 && unpack(out, 3, &back, &len) == 0 && len == size && memcmp(back, data, size) == 0);
  check(t, "its digest is the file's SHA-256", data != NULL && same_digest(data, size, digest));
  fd = open_out(out, 0);
  check(t, "a file shorter or longer than the size given is ESTALE",
        qcow2_zstd_file(in, size + 1, fd, 3, 2, digest) == -ESTALE && qcow2_zstd_file(in, size - 1, fd, 3, 2, digest) == -ESTALE);
  check(t, "one thread only (no zstd workers) gives the same bytes", qcow2_zstd_file(in, size, fd, 3, 0, digest) == 0 &&
        same_digest(data, size, digest));
  check(t, "negative descriptors are EBADF", qcow2_zstd_file(-1, size, fd, 3, 2, digest) == -EBADF &&
        qcow2_zstd_file(in, size, -1, 3, 2, digest) == -EBADF);
  close(fd), close(in);
  free(data), free(back);
  unlink(src), unlink(out);
}

void test_zpack(struct tally *t, const char *dir) {
  test_chain(t, dir);
  test_file(t, dir);
}
