/*
 * A stand-in for the FUSE half (fs_server.c), for the transport's tests until the real one
 * is linked: it answers FUSE_INIT, GETATTR of the root, takes FORGET-like requests without
 * a reply, and echoes any other request's arguments. Never part of fsd.bin.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fs_server.h"

struct fs_server {
  int root;
};

struct fs_server *fs_server_new(const struct fs_options *options, char *why, size_t whylen) {
  int root = open(options->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) {
    snprintf(why, whylen, "%s: %s", options->root, strerror(errno));
    return NULL;
  }
  struct fs_server *server = malloc(sizeof *server);
  if (!server) abort();
  server->root = root;
  return server;
}

void fs_server_free(struct fs_server *server) {
  close(server->root);
  free(server);
}

static size_t gather(const struct iovec *iov, size_t count, uint8_t *buf, size_t cap) {
  size_t n = 0;
  for (size_t i = 0; i < count && n < cap; i++) {
    size_t take = iov[i].iov_len < cap - n ? iov[i].iov_len : cap - n;
    memcpy(buf + n, iov[i].iov_base, take);
    n += take;
  }
  return n;
}

static size_t scatter(const struct iovec *iov, size_t count, const uint8_t *buf, size_t len) {
  size_t n = 0;
  for (size_t i = 0; i < count && n < len; i++) {
    size_t put = iov[i].iov_len < len - n ? iov[i].iov_len : len - n;
    memcpy(iov[i].iov_base, buf + n, put);
    n += put;
  }
  return n;
}

size_t fs_server_handle(struct fs_server *server, const struct iovec *in, size_t in_count, const struct iovec *out,
                        size_t out_count) {
  (void)server;
  uint8_t request[4096], reply[4096];
  size_t len = gather(in, in_count, request, sizeof request);
  struct fuse_in_header in_header = {0};
  struct fuse_out_header *out_header = (struct fuse_out_header *)reply;
  memset(reply, 0, sizeof reply);
  size_t body = 0;
  if (len < sizeof in_header) {
    out_header->error = -EINVAL;
  } else {
    memcpy(&in_header, request, sizeof in_header);
    out_header->unique = in_header.unique;
    uint8_t *out_body = reply + sizeof *out_header;
    switch (in_header.opcode) {
    case FUSE_FORGET:
    case FUSE_BATCH_FORGET:
    case FUSE_INTERRUPT:
      return 0;
    case FUSE_INIT: {
      struct fuse_init_out init = {.major = FUSE_KERNEL_VERSION, .minor = 31, .max_write = 65536};
      memcpy(out_body, &init, sizeof init);
      body = sizeof init;
      break;
    }
    case FUSE_GETATTR: {
      if (in_header.nodeid != FUSE_ROOT_ID) {
        out_header->error = -ENOENT;
        break;
      }
      struct fuse_attr_out attr = {.attr = {.ino = FUSE_ROOT_ID, .mode = S_IFDIR | 0755, .nlink = 2}};
      memcpy(out_body, &attr, sizeof attr);
      body = sizeof attr;
      break;
    }
    default:
      body = len - sizeof in_header;
      memcpy(out_body, request + sizeof in_header, body);
    }
  }
  out_header->len = (uint32_t)(sizeof *out_header + body);
  return scatter(out, out_count, reply, out_header->len);
}
