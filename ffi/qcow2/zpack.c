/*
 * qcow2_flatten_zstd and qcow2_zstd_file - see qcow2.h. An archive member's
 * bytes are hashed (SHA-256, OpenSSL's libcrypto) and compressed (libzstd, its
 * own worker threads) in this process, as they are made, and the frame goes
 * straight to the archive: no scratch file, no pipe, no second reading. Both
 * libraries are the ones QEMU itself links, so a host that runs boxes has them.
 *
 * The hash and the compression run side by side: for every large write the
 * digest is taken on a thread of ours while this one hands the same bytes to
 * zstd and writes its output (hashing alone costs about as much as zstd's
 * share of the calling thread).
 */
#define _GNU_SOURCE

#include "internal.h"
#include "qcow2.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>
#include <zstd_errors.h>

/* Output handed to the disk's writeback this often, so the caller's final fsync has only the tail. */
#define KICK_EVERY ((uint64_t)32 << 20)
/* Writes smaller than this are hashed inline: a thread handoff costs more. */
#define PARALLEL_MIN ((size_t)256 << 10)
/* A file is read this much at a time. */
#define READ_CHUNK ((size_t)4 << 20)

/* The hash thread: one job at a time, handed over and waited for under `lock`. */
struct hasher {
  EVP_MD_CTX *md;
  pthread_t thread;
  bool started, quit, busy;
  pthread_mutex_t lock;
  pthread_cond_t cond;
  const struct iovec *iov;
  int count;
  int error; /* sticky: 0 or -EIO */
};

struct zsink {
  struct sink base;
  int fd;
  ZSTD_CCtx *z;
  uint8_t *out;
  size_t cap;
  off_t start;              /* the descriptor's offset when the frame began (-1: not a file) */
  uint64_t emitted, kicked; /* output bytes written, and handed to writeback */
  struct hasher h;
};

static void hash_iov(struct hasher *h, const struct iovec *iov, int count) {
  for (int i = 0; i < count; i++)
    if (EVP_DigestUpdate(h->md, iov[i].iov_base, iov[i].iov_len) != 1) h->error = -EIO;
}

static void *hash_thread(void *arg) {
  struct hasher *h = arg;
  pthread_mutex_lock(&h->lock);
  for (;;) {
    while (!h->busy && !h->quit) pthread_cond_wait(&h->cond, &h->lock);
    if (!h->busy) break;
    pthread_mutex_unlock(&h->lock);
    hash_iov(h, h->iov, h->count);
    pthread_mutex_lock(&h->lock);
    h->busy = false;
    pthread_cond_broadcast(&h->cond);
  }
  pthread_mutex_unlock(&h->lock);
  return NULL;
}

static int hasher_open(struct hasher *h) {
  memset(h, 0, sizeof *h);
  h->md = EVP_MD_CTX_new();
  if (h->md == NULL || EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) != 1) return -ENOMEM;
  pthread_mutex_init(&h->lock, NULL);
  pthread_cond_init(&h->cond, NULL);
  if (pthread_create(&h->thread, NULL, hash_thread, h) != 0) return -EAGAIN;
  h->started = true;
  return 0;
}

static void hasher_close(struct hasher *h) {
  if (h->started) {
    pthread_mutex_lock(&h->lock);
    h->quit = true;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
    pthread_join(h->thread, NULL);
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
  }
  EVP_MD_CTX_free(h->md);
}

/* Starts hashing `iov` on the thread; the bytes must stay put until hasher_wait(). */
static void hasher_start(struct hasher *h, const struct iovec *iov, int count) {
  pthread_mutex_lock(&h->lock);
  h->iov = iov, h->count = count, h->busy = true;
  pthread_cond_broadcast(&h->cond);
  pthread_mutex_unlock(&h->lock);
}

static void hasher_wait(struct hasher *h) {
  pthread_mutex_lock(&h->lock);
  while (h->busy) pthread_cond_wait(&h->cond, &h->lock);
  pthread_mutex_unlock(&h->lock);
}

static int write_full(int fd, const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, buf, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if (n == 0) return -EIO;
    buf += n, len -= (size_t)n;
  }
  return 0;
}

/* Writes what zstd produced; starts writeback of every KICK_EVERY bytes (a hint: errors
 * surface at the caller's fsync, and a descriptor that is not a file has no writeback). */
static int emit(struct zsink *s, size_t len) {
  int r = write_full(s->fd, s->out, len);
  if (r != 0) return r;
  s->emitted += len;
  if (s->start >= 0 && s->emitted - s->kicked >= KICK_EVERY) {
    sync_file_range(s->fd, s->start + (off_t)s->kicked, (off_t)(s->emitted - s->kicked), SYNC_FILE_RANGE_WRITE);
    s->kicked = s->emitted;
  }
  return 0;
}

/* Feeds `len` bytes to zstd (mode ZSTD_e_end with none: ends the frame), writing its output. */
static int compress(struct zsink *s, const void *buf, size_t len, ZSTD_EndDirective mode) {
  ZSTD_inBuffer in = {buf, len, 0};
  for (;;) {
    ZSTD_outBuffer out = {s->out, s->cap, 0};
    size_t left = ZSTD_compressStream2(s->z, &out, &in, mode);
    int r;
    if (ZSTD_isError(left)) return ZSTD_getErrorCode(left) == ZSTD_error_memory_allocation ? -ENOMEM : -EIO;
    r = out.pos > 0 ? emit(s, out.pos) : 0;
    if (r != 0) return r;
    if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) return 0;
  }
}

static int zsink_writev(struct sink *base, struct iovec *iov, int count) {
  struct zsink *s = (struct zsink *)base;
  size_t total = 0;
  int r = 0;
  for (int i = 0; i < count; i++) total += iov[i].iov_len;
  bool parallel = total >= PARALLEL_MIN;
  if (parallel) hasher_start(&s->h, iov, count);
  else hash_iov(&s->h, iov, count);
  for (int i = 0; r == 0 && i < count; i++) r = compress(s, iov[i].iov_base, iov[i].iov_len, ZSTD_e_continue);
  if (parallel) hasher_wait(&s->h);
  return r;
}

static void zsink_close(struct zsink *s) {
  hasher_close(&s->h);
  ZSTD_freeCCtx(s->z);
  free(s->out);
}

/* A frame of `size` bytes at `level` on `workers` threads of zstd's (0: this one only). */
static int zsink_open(struct zsink *s, int fd, uint64_t size, int level, int workers) {
  int r;
  memset(s, 0, sizeof *s);
  s->base.writev = zsink_writev;
  s->fd = fd;
  s->start = lseek(fd, 0, SEEK_CUR);
  s->cap = ZSTD_CStreamOutSize();
  s->out = malloc(s->cap);
  s->z = ZSTD_createCCtx();
  if (s->out == NULL || s->z == NULL) return -ENOMEM;
  /* As the zstd command writes it: the content size in the header (which zstd then holds
   * the input to) and a checksum of the content at the end. */
  if (ZSTD_isError(ZSTD_CCtx_setParameter(s->z, ZSTD_c_compressionLevel, level)) ||
      ZSTD_isError(ZSTD_CCtx_setParameter(s->z, ZSTD_c_checksumFlag, 1)) ||
      ZSTD_isError(ZSTD_CCtx_setPledgedSrcSize(s->z, size)))
    return -EINVAL;
  /* A libzstd built without threads refuses workers: it then compresses on this thread. */
  if (workers > 0) ZSTD_CCtx_setParameter(s->z, ZSTD_c_nbWorkers, workers);
  r = hasher_open(&s->h);
  return r;
}

/* Ends the frame and the digest; 0 or -errno. */
static int zsink_finish(struct zsink *s, uint8_t *digest) {
  unsigned len = 0;
  int r = compress(s, NULL, 0, ZSTD_e_end);
  if (r == 0 && s->h.error != 0) r = s->h.error;
  if (r == 0 && (EVP_DigestFinal_ex(s->h.md, digest, &len) != 1 || len != QCOW2_SHA256_BYTES)) r = -EIO;
  return r;
}

int qcow2_flatten_zstd(const char *src, int fd, uint64_t size, int level, int workers, uint8_t *digest) {
  struct zsink s;
  int r;
  if (fd < 0) return -EBADF;
  if (digest == NULL) return -EINVAL;
  r = zsink_open(&s, fd, size, level, workers);
  if (r == 0) r = qcow2__flatten_to(src, size, &s.base);
  if (r == 0) r = zsink_finish(&s, digest);
  zsink_close(&s);
  return r;
}

int qcow2_zstd_file(int in, uint64_t size, int fd, int level, int workers, uint8_t *digest) {
  struct zsink s;
  uint8_t *buf = NULL;
  uint64_t done = 0;
  int r;
  if (in < 0 || fd < 0) return -EBADF;
  if (digest == NULL) return -EINVAL;
  r = zsink_open(&s, fd, size, level, workers);
  if (r == 0 && (buf = malloc(READ_CHUNK)) == NULL) r = -ENOMEM;
  while (r == 0 && done < size) {
    size_t want = size - done < READ_CHUNK ? (size_t)(size - done) : READ_CHUNK;
    ssize_t n = qcow2__pread_full(in, buf, want, done);
    struct iovec iov = {buf, 0};
    if (n < 0) r = (int)n;
    else if ((size_t)n < want) r = -ESTALE; /* the file shrank */
    else iov.iov_len = (size_t)n, done += (uint64_t)n, r = zsink_writev(&s.base, &iov, 1);
  }
  if (r == 0) {
    uint8_t probe;
    ssize_t n = qcow2__pread_full(in, &probe, 1, size);
    if (n < 0) r = (int)n;
    else if (n > 0) r = -ESTALE; /* the file grew */
  }
  if (r == 0) r = zsink_finish(&s, digest);
  zsink_close(&s);
  free(buf);
  return r;
}
