/* The FUSE half's C tests: requests built by hand and sent to fs_server_handle, their replies read back. */
#ifndef BOXLITE_FSD_TEST_REQUESTS_H
#define BOXLITE_FSD_TEST_REQUESTS_H

#include "fs_server.h"
#include "test_fuse.h"

/* Sends an exact-size copy (so ASan sees any over-read); the reply's error, its body in *body. */
static inline int send_bytes(struct fs_server *s, const uint8_t *bytes, size_t len, size_t out_len, const uint8_t **body,
                      size_t *body_len) {
  uint8_t *copy = copy_exact(bytes, len);
  struct iovec in = {copy, len}, out = {out_buf, out_len};
  size_t n = fs_server_handle(s, &in, 1, &out, 1);
  free(copy);
  if (body) *body = out_buf + sizeof(struct fuse_out_header);
  if (n == 0) {
    if (body_len) *body_len = 0;
    return 1; /* no reply */
  }
  struct fuse_out_header h;
  memcpy(&h, out_buf, sizeof h);
  CHECK(h.len == n && n <= out_len);
  if (body_len) *body_len = n - sizeof h;
  return h.error;
}

static inline int call(struct fs_server *s, uint32_t opcode, uint64_t nodeid, const void *arg, size_t arg_len, const char *name1,
                const char *name2, const uint8_t **body) {
  static uint8_t buf[8192];
  size_t len = build(buf, opcode, nodeid, arg, arg_len, name1, name2);
  return send_bytes(s, buf, len, OUT_SIZE, body, NULL);
}

static inline uint32_t init(struct fs_server *s, uint32_t flags, uint32_t flags2) {
  struct fuse_init_in in = {.major = 7, .minor = 41, .max_readahead = 131072, .flags = flags, .flags2 = flags2};
  const uint8_t *body;
  CHECK(call(s, FUSE_INIT, 0, &in, sizeof in, NULL, NULL, &body) == 0);
  struct fuse_init_out out;
  memcpy(&out, body, sizeof out);
  CHECK(out.major == 7 && out.minor == 38 && out.max_write == 1u << 20 && out.max_pages == 256);
  return out.flags2;
}

static inline uint64_t lookup(struct fs_server *s, uint64_t parent, const char *name, int *error) {
  const uint8_t *body;
  *error = call(s, FUSE_LOOKUP, parent, NULL, 0, name, NULL, &body);
  struct fuse_entry_out e = {0};
  if (*error == 0) memcpy(&e, body, sizeof e);
  if (*error == 0 && e.nodeid == 0) *error = -ENOENT; /* as the kernel reads an absent name */
  return e.nodeid;
}

static inline int open_node(struct fs_server *s, uint64_t nodeid, uint32_t flags, uint64_t *fh) {
  struct fuse_open_in in = {.flags = flags};
  const uint8_t *body;
  int e = call(s, FUSE_OPEN, nodeid, &in, sizeof in, NULL, NULL, &body);
  if (!e) memcpy(fh, body, sizeof *fh);
  return e;
}


#endif
