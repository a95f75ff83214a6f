/*
 * What the fsd C tests of either FUSE front (fs_server_handle, fs_mux_handle) share: requests
 * built by hand, the reply buffer, and a fuzz round's request and reply split as virtqueue
 * descriptors would split them.
 */
#ifndef BOXLITE_FSD_TEST_FUSE_H
#define BOXLITE_FSD_TEST_FUSE_H

#include <linux/fuse.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "../netd/test.h"

#define OUT_SIZE ((1u << 20) + 4096)

static uint8_t out_buf[OUT_SIZE];
static uint64_t next_unique = 1;

/* A request: header, the fixed argument, then each name with its NUL. */
static inline size_t build(uint8_t *buf, uint32_t opcode, uint64_t nodeid, const void *arg, size_t arg_len, const char *name1,
                    const char *name2) {
  struct fuse_in_header h = {.opcode = opcode, .nodeid = nodeid, .unique = next_unique++};
  size_t len = sizeof h;
  if (arg_len) memcpy(buf + len, arg, arg_len);
  len += arg_len;
  for (const char *n = name1; n; n = n == name1 ? name2 : NULL) {
    memcpy(buf + len, n, strlen(n) + 1);
    len += strlen(n) + 1;
  }
  h.len = (uint32_t)len;
  memcpy(buf, &h, sizeof h);
  return len;
}

static inline void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

/* A fuzz round's request (an exact-size copy, so ASan sees any over-read) and reply room (all of
 * out_buf, or a few bytes), each split in two buffers at random, as virtqueue descriptors would be. */
struct fuzz_io {
  uint8_t *copy;
  size_t out_len;
  struct iovec in[2], out[2];
};

static inline void fuzz_split(struct fuzz_io *io, const uint8_t *buf, size_t len) {
  io->out_len = pick(4) ? OUT_SIZE : pick(300);
  io->copy = copy_exact(buf, len);
  size_t cut = pick(len + 1), out_cut = pick(io->out_len + 1);
  io->in[0] = (struct iovec){io->copy, cut};
  io->in[1] = (struct iovec){io->copy + cut, len - cut};
  io->out[0] = (struct iovec){out_buf, out_cut};
  io->out[1] = (struct iovec){out_buf + out_cut, io->out_len - out_cut};
}

/* The handler answered n bytes: frees the copy; a reply fits and is well-formed. */
static inline void fuzz_check(struct fuzz_io *io, size_t n) {
  free(io->copy);
  CHECK(n <= io->out_len);
  if (n >= sizeof(struct fuse_out_header)) {
    struct fuse_out_header h;
    memcpy(&h, out_buf, sizeof h);
    CHECK(h.len == n && h.error <= 0 && h.error > -4096);
  }
}

#endif
