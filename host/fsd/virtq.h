/*
 * Guest memory as the front-end's memory table describes it, and split virtqueues in it
 * (virtio 1.x, 2.7). Pure: no I/O, no allocation. Every address the guest or the front-end
 * gives is checked against the table before it is touched, and every descriptor is copied
 * out of guest memory once before it is checked (the guest may rewrite it meanwhile).
 */
#ifndef BOXLITE_FSD_VIRTQ_H
#define BOXLITE_FSD_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* vhost-user's VHOST_MEMORY_BASELINE_NREGIONS: what one SET_MEM_TABLE can carry. */
#define MEM_MAX_REGIONS 8
/* The largest queue a split ring can have (virtio 1.x: Queue Size ≤ 32768, a power of 2). */
#define VIRTQ_MAX_SIZE 32768
/* Buffers per direction of one request: Linux's virtio-fs uses at most its queue size. */
#define VIRTQ_MAX_IOV 1024

struct mem_region {
  uint64_t gpa;   /* guest physical address of its first byte */
  uint64_t size;  /* bytes */
  uint64_t uaddr; /* the front-end's own (QEMU's) address of its first byte */
  uint8_t *host;  /* where it is mapped here */
};

struct mem_table {
  struct mem_region regions[MEM_MAX_REGIONS];
  size_t count;
};

/* The host address of guest physical [gpa, gpa + len) when it lies inside one region; else NULL. */
void *mem_from_gpa(const struct mem_table *mem, uint64_t gpa, uint64_t len);
/* The same for a front-end address (vring addresses are given as those). */
void *mem_from_uaddr(const struct mem_table *mem, uint64_t uaddr, uint64_t len);

struct virtq {
  uint16_t num; /* 0: not set up */
  struct virtq_desc *desc;
  struct virtq_avail *avail;
  struct virtq_used *used;
  uint16_t last_avail; /* the next avail ring entry to take */
  uint16_t used_idx;   /* the next used ring entry to fill */
};

struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
};

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_DESC_F_INDIRECT 4
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

/* One request: the device-readable buffers (`in`, what the guest sent) and the
 * device-writable ones (`out`, where the reply goes), both pointing into guest memory. */
struct virtq_req {
  uint16_t head;
  size_t in_count, out_count;
  struct iovec in[VIRTQ_MAX_IOV];
  struct iovec out[VIRTQ_MAX_IOV];
};

/*
 * Sets the ring up from the front-end's addresses: num entries (a power of 2), each part
 * inside guest memory and aligned as the spec requires. The used index is read back from
 * the ring (a ring set up again after a stop continues where it was). 0, or -EINVAL.
 */
int virtq_setup(struct virtq *vq, const struct mem_table *mem, uint32_t num, uint64_t desc_uaddr, uint64_t avail_uaddr,
                uint64_t used_uaddr);

/*
 * Takes the next request off the avail ring. 1 with req filled; 0 when the ring is empty;
 * -EINVAL when the chain at req->head is bad (outside guest memory, too long, a loop, a
 * readable buffer after a writable one, a bad indirect table): that request is taken and
 * must be answered with an empty used entry; -EIO when the ring itself is broken (the
 * guest claimed more entries than the ring holds, or a head outside the table): nothing
 * is taken and the queue cannot be used until it is set up again.
 */
int virtq_pop(struct virtq *vq, const struct mem_table *mem, bool indirect, struct virtq_req *req);

/* Returns request `head` to the guest with `len` bytes written into its buffers. */
void virtq_push(struct virtq *vq, uint16_t head, uint32_t len);

/* Whether the guest has put requests in the ring that were not taken yet. */
bool virtq_pending(const struct virtq *vq);

/* Whether the guest wants an interrupt for what was pushed (it may have switched them off). */
bool virtq_wants_call(const struct virtq *vq);

#endif
