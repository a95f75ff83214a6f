/*
 * Several shares on one virtio-fs device: a FUSE front for one fs_server per share, whose root
 * (nodeid 1) is a read-only virtual directory holding one entry per share. QEMU's microvm has
 * only 8 virtio-mmio transports, so a box cannot spend one device per volume.
 *
 * A share's nodeids and fhs are its server's own, tagged with (share index + 1) << 48: the
 * top 16 bits route a request, the rest is what the share's server gave out.
 */
#ifndef BOXLITE_FSD_MUX_H
#define BOXLITE_FSD_MUX_H

#include <stddef.h>
#include <sys/uio.h>

#include "fs_server.h"

/* How long a share's name may be: a virtio-fs tag's length, so a volume keeps its name. */
#define MUX_NAME_MAX 36

struct mux_share {
  const char *name; /* 1 to MUX_NAME_MAX of [A-Za-z0-9_.-], not "." or "..", unique */
  struct fs_options options;
};

struct fs_mux;

/* NULL with the reason in `why` when a name is bad or repeated or a share's server cannot start. */
struct fs_mux *fs_mux_new(const struct mux_share *shares, size_t count, char *why, size_t whylen);

/* As fs_server_handle: one request in, its reply's length out (0: none). READ's and WRITE's data
 * pass between `in`/`out` and the share's server untouched. Not thread-safe. */
size_t fs_mux_handle(struct fs_mux *mux, const struct iovec *in, size_t in_count, const struct iovec *out,
                     size_t out_count);

void fs_mux_free(struct fs_mux *mux);

#endif
