#include "virtq.h"

#include <errno.h>
#include <string.h>

struct virtq_avail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[];
};

struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
};

struct virtq_used {
  uint16_t flags;
  uint16_t idx;
  struct virtq_used_elem ring[];
};

/* The region holding addr in the address space `at` selects (guest physical or the front-end's). */
static const struct mem_region *find_region(const struct mem_table *mem, uint64_t addr, bool physical) {
  for (size_t i = 0; i < mem->count; i++) {
    const struct mem_region *r = &mem->regions[i];
    uint64_t start = physical ? r->gpa : r->uaddr;
    if (addr >= start && addr - start < r->size) return r;
  }
  return NULL;
}

static void *translate(const struct mem_table *mem, uint64_t addr, uint64_t len, bool physical) {
  const struct mem_region *r = find_region(mem, addr, physical);
  if (!r) return NULL;
  uint64_t offset = addr - (physical ? r->gpa : r->uaddr);
  if (len > r->size - offset) return NULL;
  return r->host + offset;
}

void *mem_from_gpa(const struct mem_table *mem, uint64_t gpa, uint64_t len) { return translate(mem, gpa, len, true); }

void *mem_from_uaddr(const struct mem_table *mem, uint64_t uaddr, uint64_t len) { return translate(mem, uaddr, len, false); }

/* Appends guest physical [gpa, gpa + len) to iov as one buffer per region it crosses. */
static int append_buffer(const struct mem_table *mem, uint64_t gpa, uint32_t len, struct iovec *iov, size_t *count) {
  while (len > 0) {
    const struct mem_region *r = find_region(mem, gpa, true);
    if (!r || *count == VIRTQ_MAX_IOV) return -EINVAL;
    uint64_t offset = gpa - r->gpa, here = r->size - offset < len ? r->size - offset : len;
    iov[(*count)++] = (struct iovec){.iov_base = r->host + offset, .iov_len = (size_t)here};
    gpa += here;
    len -= (uint32_t)here;
  }
  return 0;
}

static bool aligned(const void *p, size_t alignment) { return ((uintptr_t)p & (alignment - 1)) == 0; }

int virtq_setup(struct virtq *vq, const struct mem_table *mem, uint32_t num, uint64_t desc_uaddr, uint64_t avail_uaddr,
                uint64_t used_uaddr) {
  if (num == 0 || num > VIRTQ_MAX_SIZE || (num & (num - 1)) != 0) return -EINVAL;
  /* Sizes from 2.7 "Virtqueues": the trailing 2 bytes are used_event / avail_event. */
  void *desc = mem_from_uaddr(mem, desc_uaddr, 16ull * num);
  void *avail = mem_from_uaddr(mem, avail_uaddr, 6ull + 2ull * num);
  void *used = mem_from_uaddr(mem, used_uaddr, 6ull + 8ull * num);
  if (!desc || !avail || !used || !aligned(desc, 16) || !aligned(avail, 2) || !aligned(used, 4)) return -EINVAL;
  vq->num = (uint16_t)num;
  vq->desc = desc;
  vq->avail = avail;
  vq->used = used;
  vq->used_idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
  return 0;
}

/* Walks the chain at req->head into req's buffers: a table holds at most as many entries as a
 * chain through it may visit, so a longer walk is a loop. */
static int walk_chain(const struct virtq *vq, const struct mem_table *mem, bool indirect, struct virtq_req *req) {
  const uint8_t *table = (const uint8_t *)vq->desc; /* bytes: an indirect table may sit unaligned */
  uint32_t table_len = vq->num, visited = 0;
  bool in_indirect = false;
  uint16_t i = req->head;
  for (;;) {
    if (++visited > table_len) return -EINVAL;
    struct virtq_desc d;
    memcpy(&d, table + (size_t)i * sizeof d, sizeof d);
    if (d.flags & VIRTQ_DESC_F_INDIRECT) {
      /* 2.7.5.3: an indirect descriptor is alone in its chain and its table holds no indirect one. */
      if (!indirect || in_indirect || (d.flags & VIRTQ_DESC_F_NEXT) || d.len == 0 || d.len % sizeof d != 0 ||
          d.len / sizeof d > vq->num)
        return -EINVAL;
      table = mem_from_gpa(mem, d.addr, d.len);
      if (!table) return -EINVAL;
      table_len = d.len / sizeof d;
      visited = 0;
      in_indirect = true;
      i = 0;
      continue;
    }
    bool writable = d.flags & VIRTQ_DESC_F_WRITE;
    /* 2.7.4.2: the device-readable buffers come first; a readable one after a writable one is a bad chain. */
    if (!writable && req->out_count > 0) return -EINVAL;
    int rc = writable ? append_buffer(mem, d.addr, d.len, req->out, &req->out_count)
                      : append_buffer(mem, d.addr, d.len, req->in, &req->in_count);
    if (rc < 0) return rc;
    if (!(d.flags & VIRTQ_DESC_F_NEXT)) return 0;
    if (d.next >= table_len) return -EINVAL;
    i = d.next;
  }
}

int virtq_pop(struct virtq *vq, const struct mem_table *mem, bool indirect, struct virtq_req *req) {
  if (vq->num == 0) return 0;
  /* Acquire: the ring entries and descriptors the guest wrote before bumping idx are visible. */
  uint16_t avail_idx = __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE);
  uint16_t pending = (uint16_t)(avail_idx - vq->last_avail);
  if (pending == 0) return 0;
  if (pending > vq->num) return -EIO;
  uint16_t head = __atomic_load_n(&vq->avail->ring[vq->last_avail & (vq->num - 1)], __ATOMIC_RELAXED);
  if (head >= vq->num) return -EIO;
  vq->last_avail++;
  req->head = head;
  req->in_count = req->out_count = 0;
  return walk_chain(vq, mem, indirect, req) < 0 ? -EINVAL : 1;
}

void virtq_push(struct virtq *vq, uint16_t head, uint32_t len) {
  struct virtq_used_elem *elem = &vq->used->ring[vq->used_idx & (vq->num - 1)];
  __atomic_store_n(&elem->id, head, __ATOMIC_RELAXED);
  __atomic_store_n(&elem->len, len, __ATOMIC_RELAXED);
  vq->used_idx++;
  /* Release: the guest that sees the new idx sees the entry and the reply written before it. */
  __atomic_store_n(&vq->used->idx, vq->used_idx, __ATOMIC_RELEASE);
}

bool virtq_pending(const struct virtq *vq) {
  return vq->num != 0 && __atomic_load_n(&vq->avail->idx, __ATOMIC_ACQUIRE) != vq->last_avail;
}

bool virtq_wants_call(const struct virtq *vq) {
  /* A full barrier: the used idx store must be visible before the flags are read, or a guest
   * that just re-enabled interrupts and found no new entry would wait for a call never sent. */
  __atomic_thread_fence(__ATOMIC_SEQ_CST);
  return !(__atomic_load_n(&vq->avail->flags, __ATOMIC_RELAXED) & VIRTQ_AVAIL_F_NO_INTERRUPT);
}
