/*
 * The vhost-user back-end of one virtio-fs device (QEMU docs/interop/vhost-user.rst), as
 * QEMU 7.2's vhost-user-fs-device needs it: features, the memory table, two split rings
 * (queue 0 hiprio, queue 1 requests), kicks and calls. Does no socket I/O of its own: the
 * caller reads whole messages with their descriptors, hands them here and sends the reply.
 * The front-end is trusted less than fully: a malformed message fails or closes the
 * connection, never touches memory outside what it mapped.
 */
#ifndef BOXLITE_FSD_VHOST_H
#define BOXLITE_FSD_VHOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtq.h"

#define VHOST_QUEUES 2
#define VHOST_HEADER_SIZE 12
/* The largest payload read: above every message's own size, so that unknown requests can
 * still be read whole and answered. */
#define VHOST_MAX_PAYLOAD 4096
/* At most one descriptor per memory region travels with a message. */
#define VHOST_MAX_FDS MEM_MAX_REGIONS

enum vhost_request {
  VHOST_USER_GET_FEATURES = 1,
  VHOST_USER_SET_FEATURES = 2,
  VHOST_USER_SET_OWNER = 3,
  VHOST_USER_RESET_OWNER = 4,
  VHOST_USER_SET_MEM_TABLE = 5,
  VHOST_USER_SET_VRING_NUM = 8,
  VHOST_USER_SET_VRING_ADDR = 9,
  VHOST_USER_SET_VRING_BASE = 10,
  VHOST_USER_GET_VRING_BASE = 11,
  VHOST_USER_SET_VRING_KICK = 12,
  VHOST_USER_SET_VRING_CALL = 13,
  VHOST_USER_SET_VRING_ERR = 14,
  VHOST_USER_GET_PROTOCOL_FEATURES = 15,
  VHOST_USER_SET_PROTOCOL_FEATURES = 16,
  VHOST_USER_GET_QUEUE_NUM = 17,
  VHOST_USER_SET_VRING_ENABLE = 18,
};

#define VHOST_USER_VERSION 0x1
#define VHOST_USER_VERSION_MASK 0x3
#define VHOST_USER_REPLY 0x4
#define VHOST_USER_NEED_REPLY 0x8

#define VIRTIO_RING_F_INDIRECT_DESC 28
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VIRTIO_F_VERSION_1 32
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
/* SET_VRING_KICK/CALL/ERR: the ring index is in bits 0-7; bit 8 says no descriptor came (polling). */
#define VHOST_USER_VRING_NOFD (1ull << 8)

struct vhost_msg {
  uint32_t request;
  uint32_t flags;
  uint32_t size;
  uint8_t payload[VHOST_MAX_PAYLOAD];
};

struct vhost_ring {
  struct virtq q;
  uint32_t num;
  uint64_t desc_uaddr, avail_uaddr, used_uaddr;
  bool addressed; /* SET_VRING_ADDR took */
  bool started;   /* a kick came (descriptor or polling), and no GET_VRING_BASE since */
  bool enabled;
  bool broken; /* the guest broke the ring: served no more until it is set up again */
  int kick, call, err; /* -1: none */
};

/* Answers one FUSE request, with fs_server_handle's contract (fsd: the shares' mux). */
typedef size_t vhost_handler(void *ctx, const struct iovec *in, size_t in_count, const struct iovec *out,
                             size_t out_count);

struct vhost_dev {
  vhost_handler *handle;
  void *handle_ctx;
  uint64_t features, protocol_features; /* what the front-end acked */
  struct mem_table mem;
  size_t map_len[MEM_MAX_REGIONS];
  void *map[MEM_MAX_REGIONS];
  struct vhost_ring rings[VHOST_QUEUES];
  /* Told what happens (one line each), when set: fsd's --verbose. */
  void (*trace)(void *ctx, const char *line);
  void *trace_ctx;
  struct virtq_req req; /* the request being served: large, so kept here, not on the stack */
  uint64_t served;      /* requests answered so far: whether a round of the loop served any */
};

/* The features offered to the front-end (GET_FEATURES, GET_PROTOCOL_FEATURES). */
uint64_t vhost_features(void);
uint64_t vhost_protocol_features(void);

void vhost_init(struct vhost_dev *dev, vhost_handler *handle, void *ctx);
/* Unmaps guest memory and closes every descriptor the front-end gave. */
void vhost_free(struct vhost_dev *dev);

/* Whether a header read off the socket can start a message (version, payload size). */
bool vhost_header_ok(const struct vhost_msg *msg);

/*
 * Handles one whole message. `fds` are the descriptors that came with it, taken here in
 * every case (kept or closed). When it has a reply, *reply_len is its length on the wire
 * (header and payload in `reply`); else 0. 0, or -EPROTO when the connection must close
 * (a malformed message, descriptors the request does not take).
 */
int vhost_handle(struct vhost_dev *dev, const struct vhost_msg *msg, int *fds, size_t fd_count, struct vhost_msg *reply,
                 size_t *reply_len);

/* Whether ring i takes requests: set up, started and enabled, and not broken. */
bool vhost_ring_live(const struct vhost_dev *dev, size_t i);

/* Whether a live ring i holds requests not taken yet (a look at guest memory, no syscall). */
bool vhost_pending(const struct vhost_dev *dev, size_t i);

/*
 * Answers the requests waiting in ring i (at most one ring's worth, so that one busy ring
 * cannot starve the others) and calls the guest if it wants. Whether more may be waiting.
 */
bool vhost_serve(struct vhost_dev *dev, size_t i);

#endif
