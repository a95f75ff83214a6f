#include "vhost.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>


/* Payload layouts (vhost-user.rst, "Message types"), read with memcpy: the buffer has no alignment. */
struct vring_state {
  uint32_t index;
  uint32_t num;
};

struct vring_addr {
  uint32_t index;
  uint32_t flags;
  uint64_t desc, used, avail, log; /* this order on the wire */
};

struct mem_region_desc {
  uint64_t gpa, size, uaddr, mmap_offset;
};

uint64_t vhost_features(void) {
  return 1ull << VIRTIO_F_VERSION_1 | 1ull << VHOST_USER_F_PROTOCOL_FEATURES | 1ull << VIRTIO_RING_F_INDIRECT_DESC;
}

/* MQ: QEMU refuses a back-end without it for a device of more than one queue. */
uint64_t vhost_protocol_features(void) { return 1ull << VHOST_USER_PROTOCOL_F_MQ | 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK; }

static void trace(const struct vhost_dev *dev, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void trace(const struct vhost_dev *dev, const char *format, ...) {
  if (!dev->trace) return;
  char line[160];
  va_list args;
  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);
  dev->trace(dev->trace_ctx, line);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

static void reset_ring(struct vhost_ring *ring) {
  close_fd(&ring->kick);
  close_fd(&ring->call);
  close_fd(&ring->err);
  *ring = (struct vhost_ring){.kick = -1, .call = -1, .err = -1};
}

void vhost_init(struct vhost_dev *dev, vhost_handler *handle, void *ctx) {
  memset(dev, 0, sizeof *dev);
  dev->handle = handle;
  dev->handle_ctx = ctx;
  for (size_t i = 0; i < VHOST_QUEUES; i++) dev->rings[i] = (struct vhost_ring){.kick = -1, .call = -1, .err = -1};
}

static void unmap_all(struct vhost_dev *dev) {
  for (size_t i = 0; i < dev->mem.count; i++) munmap(dev->map[i], dev->map_len[i]);
  dev->mem.count = 0;
}

void vhost_free(struct vhost_dev *dev) {
  unmap_all(dev);
  for (size_t i = 0; i < VHOST_QUEUES; i++) reset_ring(&dev->rings[i]);
}

bool vhost_header_ok(const struct vhost_msg *msg) {
  return (msg->flags & VHOST_USER_VERSION_MASK) == VHOST_USER_VERSION && msg->size <= VHOST_MAX_PAYLOAD;
}

bool vhost_ring_live(const struct vhost_dev *dev, size_t i) {
  const struct vhost_ring *ring = &dev->rings[i];
  return ring->q.num != 0 && ring->started && ring->enabled && !ring->broken;
}

/* (Re)translates ring i's addresses against the current memory table. */
static int address_ring(struct vhost_dev *dev, struct vhost_ring *ring) {
  uint16_t last_avail = ring->q.last_avail;
  int rc = virtq_setup(&ring->q, &dev->mem, ring->num, ring->desc_uaddr, ring->avail_uaddr, ring->used_uaddr);
  ring->q.last_avail = last_avail;
  if (rc < 0) ring->q.num = 0;
  ring->addressed = rc == 0;
  ring->broken = false;
  return rc;
}

/* Maps each region's descriptor from offset 0 (its mmap_offset need not be page-aligned). On
 * failure nothing is left mapped and the old table stays. The descriptors are the caller's to close. */
static int set_mem_table(struct vhost_dev *dev, const struct vhost_msg *msg, int *fds, size_t fd_count) {
  uint32_t count;
  if (msg->size < 8) return -EPROTO;
  memcpy(&count, msg->payload, sizeof count);
  if (count == 0 || count > MEM_MAX_REGIONS || msg->size != 8 + count * sizeof(struct mem_region_desc) || fd_count != count)
    return -EPROTO;
  struct mem_table mem = {0};
  void *map[MEM_MAX_REGIONS] = {0};
  size_t map_len[MEM_MAX_REGIONS] = {0};
  int rc = 0;
  for (uint32_t i = 0; i < count && rc == 0; i++) {
    struct mem_region_desc d;
    memcpy(&d, msg->payload + 8 + i * sizeof d, sizeof d);
    /* A region past the end of its file would map, then kill fsd with SIGBUS on first touch. */
    struct stat st;
    if (d.size == 0 || d.mmap_offset > SIZE_MAX - d.size || d.gpa + d.size < d.gpa || d.uaddr + d.size < d.uaddr ||
        fstat(fds[i], &st) < 0 || !S_ISREG(st.st_mode) || d.mmap_offset + d.size > (uint64_t)st.st_size) {
      rc = -EINVAL;
      break;
    }
    map_len[i] = (size_t)(d.mmap_offset + d.size);
    map[i] = mmap(NULL, map_len[i], PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
    if (map[i] == MAP_FAILED) {
      rc = -errno;
      break;
    }
    mem.regions[i] = (struct mem_region){.gpa = d.gpa, .size = d.size, .uaddr = d.uaddr, .host = (uint8_t *)map[i] + d.mmap_offset};
    mem.count = i + 1;
  }
  if (rc < 0) {
    for (size_t i = 0; i < mem.count; i++) munmap(map[i], map_len[i]);
    return rc;
  }
  unmap_all(dev);
  dev->mem = mem;
  memcpy(dev->map, map, sizeof map);
  memcpy(dev->map_len, map_len, sizeof map_len);
  /* The rings pointed into the old mappings: the same addresses, translated anew. */
  for (size_t i = 0; i < VHOST_QUEUES; i++)
    if (dev->rings[i].addressed) address_ring(dev, &dev->rings[i]);
  trace(dev, "mem table: %u region(s)", count);
  return 0;
}

static int read_u64(const struct vhost_msg *msg, uint64_t *value) {
  if (msg->size != sizeof *value) return -EPROTO;
  memcpy(value, msg->payload, sizeof *value);
  return 0;
}

static int read_state(const struct vhost_msg *msg, struct vring_state *state) {
  if (msg->size != sizeof *state) return -EPROTO;
  memcpy(state, msg->payload, sizeof *state);
  return state->index < VHOST_QUEUES ? 0 : -EINVAL;
}

/* SET_VRING_KICK/CALL/ERR: the descriptor, or polling when the no-fd bit says none came. */
static int set_ring_fd(struct vhost_dev *dev, const struct vhost_msg *msg, int *fds, size_t fd_count) {
  uint64_t value;
  if (read_u64(msg, &value) < 0) return -EPROTO;
  bool nofd = value & VHOST_USER_VRING_NOFD;
  if (fd_count != (nofd ? 0u : 1u) || (value & ~(VHOST_USER_VRING_NOFD | 0xffull)) != 0) return -EPROTO;
  uint64_t index = value & 0xff;
  if (index >= VHOST_QUEUES) return -EINVAL;
  struct vhost_ring *ring = &dev->rings[index];
  int fd = nofd ? -1 : fds[0];
  if (!nofd) fds[0] = -1; /* kept */
  if (msg->request == VHOST_USER_SET_VRING_KICK) {
    /* Read only when poll says it is ready, but a descriptor replaced meanwhile (same number,
     * not polled) must not block fsd: QEMU's are non-blocking already, any other is made so. */
    if (fd >= 0) fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    close_fd(&ring->kick);
    ring->kick = fd;
    ring->started = true;
    /* Without protocol features a ring is enabled when it starts; with them, by SET_VRING_ENABLE. */
    if (!(dev->features & 1ull << VHOST_USER_F_PROTOCOL_FEATURES)) ring->enabled = true;
    trace(dev, "ring %u started%s", (unsigned)index, nofd ? " (polled)" : "");
  } else {
    int *slot = msg->request == VHOST_USER_SET_VRING_CALL ? &ring->call : &ring->err;
    close_fd(slot);
    *slot = fd;
  }
  return 0;
}

static int set_ring(struct vhost_dev *dev, const struct vhost_msg *msg) {
  struct vring_state state;
  int rc = read_state(msg, &state);
  if (rc < 0) return rc;
  struct vhost_ring *ring = &dev->rings[state.index];
  switch (msg->request) {
  case VHOST_USER_SET_VRING_NUM:
    if (state.num == 0 || state.num > VIRTQ_MAX_SIZE || (state.num & (state.num - 1)) != 0) return -EINVAL;
    ring->num = state.num;
    return 0;
  case VHOST_USER_SET_VRING_BASE:
    if (state.num > UINT16_MAX) return -EINVAL;
    ring->q.last_avail = (uint16_t)state.num;
    return 0;
  default: /* VHOST_USER_SET_VRING_ENABLE */
    if (state.num > 1) return -EINVAL;
    ring->enabled = state.num == 1;
    trace(dev, "ring %u %s", state.index, ring->enabled ? "enabled" : "disabled");
    return 0;
  }
}

static int set_ring_addr(struct vhost_dev *dev, const struct vhost_msg *msg) {
  struct vring_addr addr;
  if (msg->size != sizeof addr) return -EPROTO;
  memcpy(&addr, msg->payload, sizeof addr);
  if (addr.index >= VHOST_QUEUES) return -EINVAL;
  struct vhost_ring *ring = &dev->rings[addr.index];
  ring->desc_uaddr = addr.desc;
  ring->avail_uaddr = addr.avail;
  ring->used_uaddr = addr.used;
  return address_ring(dev, ring);
}

/* GET_VRING_BASE stops the ring; the reply is where the next start resumes. */
static int get_ring_base(struct vhost_dev *dev, const struct vhost_msg *msg, struct vhost_msg *reply) {
  struct vring_state state;
  int rc = read_state(msg, &state);
  if (rc < 0) return rc;
  struct vhost_ring *ring = &dev->rings[state.index];
  state.num = ring->q.last_avail;
  close_fd(&ring->kick);
  ring->started = false;
  ring->q.num = 0;
  ring->addressed = false;
  trace(dev, "ring %u stopped at %u", state.index, state.num);
  memcpy(reply->payload, &state, sizeof state);
  reply->size = sizeof state;
  return 0;
}

static int set_features(uint64_t *acked, uint64_t offered, const struct vhost_msg *msg) {
  uint64_t value;
  if (read_u64(msg, &value) < 0) return -EPROTO;
  if (value & ~offered) return -EINVAL;
  *acked = value;
  return 0;
}

static void reply_u64(struct vhost_msg *reply, uint64_t value) {
  memcpy(reply->payload, &value, sizeof value);
  reply->size = sizeof value;
}

/* The request itself: 0 or -errno for the front-end (an ack), -EPROTO to close; sets
 * reply->size (and *has_reply) for the requests whose answer is not an ack. */
static int dispatch(struct vhost_dev *dev, const struct vhost_msg *msg, int *fds, size_t fd_count, struct vhost_msg *reply,
                    bool *has_reply) {
  uint32_t r = msg->request;
  bool takes_fds = r == VHOST_USER_SET_MEM_TABLE || r == VHOST_USER_SET_VRING_KICK || r == VHOST_USER_SET_VRING_CALL ||
                   r == VHOST_USER_SET_VRING_ERR;
  if (!takes_fds && fd_count > 0) return -EPROTO;
  *has_reply = r == VHOST_USER_GET_FEATURES || r == VHOST_USER_GET_PROTOCOL_FEATURES || r == VHOST_USER_GET_QUEUE_NUM ||
               r == VHOST_USER_GET_VRING_BASE;
  switch (r) {
  case VHOST_USER_GET_FEATURES:
    reply_u64(reply, vhost_features());
    return 0;
  case VHOST_USER_GET_PROTOCOL_FEATURES:
    reply_u64(reply, vhost_protocol_features());
    return 0;
  case VHOST_USER_GET_QUEUE_NUM:
    reply_u64(reply, VHOST_QUEUES);
    return 0;
  case VHOST_USER_SET_FEATURES: {
    int rc = set_features(&dev->features, vhost_features(), msg);
    if (rc == 0) trace(dev, "features 0x%llx", (unsigned long long)dev->features);
    return rc;
  }
  case VHOST_USER_SET_PROTOCOL_FEATURES:
    return set_features(&dev->protocol_features, vhost_protocol_features(), msg);
  case VHOST_USER_SET_OWNER:
    return 0;
  case VHOST_USER_RESET_OWNER:
    for (size_t i = 0; i < VHOST_QUEUES; i++) reset_ring(&dev->rings[i]);
    dev->features = 0;
    return 0;
  case VHOST_USER_SET_MEM_TABLE:
    return set_mem_table(dev, msg, fds, fd_count);
  case VHOST_USER_SET_VRING_NUM:
  case VHOST_USER_SET_VRING_BASE:
  case VHOST_USER_SET_VRING_ENABLE:
    return set_ring(dev, msg);
  case VHOST_USER_SET_VRING_ADDR:
    return set_ring_addr(dev, msg);
  case VHOST_USER_GET_VRING_BASE:
    return get_ring_base(dev, msg, reply);
  case VHOST_USER_SET_VRING_KICK:
  case VHOST_USER_SET_VRING_CALL:
  case VHOST_USER_SET_VRING_ERR:
    return set_ring_fd(dev, msg, fds, fd_count);
  default:
    /* Logging, the back-end channel, config space…: never offered, so never done. */
    trace(dev, "request %u not supported", r);
    return -ENOSYS;
  }
}

int vhost_handle(struct vhost_dev *dev, const struct vhost_msg *msg, int *fds, size_t fd_count, struct vhost_msg *reply,
                 size_t *reply_len) {
  *reply_len = 0;
  bool has_reply = false;
  int rc = vhost_header_ok(msg) && fd_count <= VHOST_MAX_FDS ? dispatch(dev, msg, fds, fd_count, reply, &has_reply) : -EPROTO;
  /* A handler that keeps a descriptor sets its slot to -1; mappings hold their own reference. */
  for (size_t i = 0; i < fd_count; i++) close_fd(&fds[i]);
  if (rc == -EPROTO) {
    trace(dev, "request %u malformed: closing", msg->request);
    return -EPROTO;
  }
  /* REPLY_ACK: a request without an answer of its own is acked when the front-end asks. */
  if (!has_reply && !(msg->flags & VHOST_USER_NEED_REPLY)) return 0;
  if (!has_reply) reply_u64(reply, rc == 0 ? 0 : 1);
  reply->request = msg->request;
  reply->flags = VHOST_USER_VERSION | VHOST_USER_REPLY;
  *reply_len = VHOST_HEADER_SIZE + reply->size;
  return 0;
}

bool vhost_pending(const struct vhost_dev *dev, size_t i) { return vhost_ring_live(dev, i) && virtq_pending(&dev->rings[i].q); }

bool vhost_serve(struct vhost_dev *dev, size_t i) {
  struct vhost_ring *ring = &dev->rings[i];
  bool indirect = dev->features & 1ull << VIRTIO_RING_F_INDIRECT_DESC;
  size_t served = 0;
  bool more = true;
  while (vhost_ring_live(dev, i) && served < ring->q.num) {
    int rc = virtq_pop(&ring->q, &dev->mem, indirect, &dev->req);
    if (rc == 0) {
      more = false;
      break;
    }
    if (rc == -EIO) {
      ring->broken = true;
      trace(dev, "ring %zu broken by the guest: served no more", i);
      more = false;
      break;
    }
    uint32_t len = 0;
    if (rc == 1) {
      size_t room = 0;
      for (size_t k = 0; k < dev->req.out_count; k++) room += dev->req.out[k].iov_len;
      size_t n = dev->handle(dev->handle_ctx, dev->req.in, dev->req.in_count, dev->req.out, dev->req.out_count);
      len = (uint32_t)(n < room ? n : room);
    } else {
      trace(dev, "ring %zu: request %u has a bad descriptor chain", i, dev->req.head);
    }
    /* Every request taken is returned, a failed one empty, so the guest never waits on it. */
    virtq_push(&ring->q, dev->req.head, len);
    served++;
  }
  dev->served += served;
  if (served > 0) trace(dev, "ring %zu served %zu request(s)", i, served);
  if (served > 0 && ring->call >= 0 && virtq_wants_call(&ring->q)) eventfd_write(ring->call, 1);
  return more && vhost_ring_live(dev, i);
}
