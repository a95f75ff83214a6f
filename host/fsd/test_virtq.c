/* Split rings in a fake guest memory (two adjacent malloc'd regions): chains, indirect
 * tables, and every way a guest can point outside its memory or loop. */
#include <errno.h>
#include <stdlib.h>

#include "test.h"
#include "virtq.h"

#define RAM_GPA 0x100000ull
#define RAM_UADDR 0x7f0000000000ull
#define REGION_SIZE 0x10000ull
#define NUM 8
/* Where the test puts things, as guest physical addresses. */
#define DESC_GPA RAM_GPA
#define AVAIL_GPA (RAM_GPA + 0x1000)
#define USED_GPA (RAM_GPA + 0x2000)
#define INDIRECT_GPA (RAM_GPA + 0x3000)
#define DATA_GPA (RAM_GPA + 0x4000)

static struct mem_table mem;
static uint8_t *ram[2];
static struct virtq vq;
static struct virtq_req req;

static void *at(uint64_t gpa) { return mem_from_gpa(&mem, gpa, 1); }

static void set_desc(uint64_t table_gpa, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next) {
  struct virtq_desc d = {.addr = addr, .len = len, .flags = flags, .next = next};
  memcpy((uint8_t *)at(table_gpa) + i * sizeof d, &d, sizeof d);
}

static uint16_t *avail_u16(size_t i) { return (uint16_t *)at(AVAIL_GPA) + i; }
static uint16_t *used_u16(size_t i) { return (uint16_t *)at(USED_GPA) + i; }
static uint32_t *used_elem(size_t i) { return (uint32_t *)at(USED_GPA + 4 + 8 * i); }

/* Offers the chain at head: the next avail entry, then the index. */
static void offer(uint16_t head) {
  uint16_t idx = *avail_u16(1);
  *avail_u16(2 + idx % NUM) = head;
  *avail_u16(1) = (uint16_t)(idx + 1);
}

static void reset(void) {
  for (int r = 0; r < 2; r++) memset(ram[r], 0, REGION_SIZE);
  vq = (struct virtq){0};
  CHECK(virtq_setup(&vq, &mem, NUM, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == 0);
}

static void test_translation(void) {
  CHECK(mem_from_gpa(&mem, RAM_GPA, REGION_SIZE) == ram[0]);
  CHECK(mem_from_gpa(&mem, RAM_GPA + REGION_SIZE, 16) == ram[1]);
  /* Adjacent regions are separate mappings: one range never crosses them. */
  CHECK(mem_from_gpa(&mem, RAM_GPA + REGION_SIZE - 8, 16) == NULL);
  CHECK(mem_from_gpa(&mem, RAM_GPA - 1, 2) == NULL);
  CHECK(mem_from_gpa(&mem, RAM_GPA + 2 * REGION_SIZE, 1) == NULL);
  CHECK(mem_from_gpa(&mem, RAM_GPA + 16, UINT64_MAX) == NULL);
  CHECK(mem_from_gpa(&mem, UINT64_MAX, 1) == NULL);
  CHECK(mem_from_uaddr(&mem, RAM_UADDR + 0x10, 0x10) == ram[0] + 0x10);
  CHECK(mem_from_uaddr(&mem, RAM_GPA, 1) == NULL);
}

static void test_not_set_up_has_nothing_pending(void) {
  struct virtq none = {0};
  CHECK(!virtq_pending(&none));
}

static void test_setup_refuses_bad_rings(void) {
  struct virtq q = {0};
  CHECK(virtq_setup(&q, &mem, 0, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == -EINVAL);
  CHECK(virtq_setup(&q, &mem, 3, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == -EINVAL);
  CHECK(virtq_setup(&q, &mem, 65536, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == -EINVAL);
  CHECK(virtq_setup(&q, &mem, NUM, RAM_UADDR + 8, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == -EINVAL);  /* desc unaligned */
  CHECK(virtq_setup(&q, &mem, NUM, RAM_UADDR, RAM_UADDR + 0x1001, RAM_UADDR + 0x2000) == -EINVAL);  /* avail unaligned */
  CHECK(virtq_setup(&q, &mem, NUM, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2002) == -EINVAL);  /* used unaligned */
  CHECK(virtq_setup(&q, &mem, NUM, RAM_UADDR + 2 * REGION_SIZE - 16, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == -EINVAL);
  CHECK(virtq_setup(&q, &mem, 32768, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == -EINVAL); /* 512 KiB of descriptors */
  CHECK(q.num == 0);
}

static void test_chain(void) {
  reset();
  CHECK(virtq_pop(&vq, &mem, true, &req) == 0);
  CHECK(!virtq_pending(&vq));
  set_desc(DESC_GPA, 3, DATA_GPA, 40, VIRTQ_DESC_F_NEXT, 5);
  set_desc(DESC_GPA, 5, DATA_GPA + 100, 8, VIRTQ_DESC_F_NEXT, 1);
  set_desc(DESC_GPA, 1, DATA_GPA + 200, 300, VIRTQ_DESC_F_WRITE, 0);
  offer(3);
  CHECK(virtq_pending(&vq));
  CHECK(virtq_pop(&vq, &mem, true, &req) == 1);
  CHECK(!virtq_pending(&vq));
  CHECK(req.head == 3 && req.in_count == 2 && req.out_count == 1);
  CHECK(req.in[0].iov_base == at(DATA_GPA) && req.in[0].iov_len == 40);
  CHECK(req.in[1].iov_base == at(DATA_GPA + 100) && req.in[1].iov_len == 8);
  CHECK(req.out[0].iov_base == at(DATA_GPA + 200) && req.out[0].iov_len == 300);
  CHECK(virtq_pop(&vq, &mem, true, &req) == 0);
  virtq_push(&vq, 3, 123);
  CHECK(*used_u16(1) == 1 && used_elem(0)[0] == 3 && used_elem(0)[1] == 123);
  CHECK(virtq_wants_call(&vq));
  *avail_u16(0) = VIRTQ_AVAIL_F_NO_INTERRUPT;
  CHECK(!virtq_wants_call(&vq));
}

static void test_buffer_across_regions(void) {
  reset();
  set_desc(DESC_GPA, 0, RAM_GPA + REGION_SIZE - 10, 30, 0, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == 1);
  CHECK(req.in_count == 2 && req.in[0].iov_len == 10 && req.in[1].iov_base == ram[1] && req.in[1].iov_len == 20);
}

static void test_indirect(void) {
  reset();
  set_desc(INDIRECT_GPA, 0, DATA_GPA, 40, VIRTQ_DESC_F_NEXT, 2);
  set_desc(INDIRECT_GPA, 2, DATA_GPA + 64, 100, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
  set_desc(INDIRECT_GPA, 1, DATA_GPA + 512, 50, VIRTQ_DESC_F_WRITE, 0);
  set_desc(DESC_GPA, 0, INDIRECT_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == 1);
  CHECK(req.in_count == 1 && req.out_count == 2 && req.out[1].iov_base == at(DATA_GPA + 512));
  /* Not negotiated: the same chain is refused. */
  offer(0);
  CHECK(virtq_pop(&vq, &mem, false, &req) == -EINVAL);
  /* A table length that is not whole descriptors, empty, or longer than the queue. */
  set_desc(DESC_GPA, 0, INDIRECT_GPA, 3 * 16 + 1, VIRTQ_DESC_F_INDIRECT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, INDIRECT_GPA, 0, VIRTQ_DESC_F_INDIRECT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, INDIRECT_GPA, (NUM + 1) * 16, VIRTQ_DESC_F_INDIRECT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  /* With NEXT, nested, or outside guest memory. */
  set_desc(DESC_GPA, 0, INDIRECT_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT | VIRTQ_DESC_F_NEXT, 1);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, INDIRECT_GPA, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
  set_desc(INDIRECT_GPA, 1, INDIRECT_GPA, 16, VIRTQ_DESC_F_INDIRECT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, RAM_GPA + 2 * REGION_SIZE - 16, 32, VIRTQ_DESC_F_INDIRECT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  /* A loop inside the table: 0 → 1 → 0. */
  set_desc(DESC_GPA, 0, INDIRECT_GPA, 2 * 16, VIRTQ_DESC_F_INDIRECT, 0);
  set_desc(INDIRECT_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1);
  set_desc(INDIRECT_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  /* Each bad request was taken (answered empty by the caller), the ring goes on. */
  CHECK(vq.last_avail == 9);
}

static void test_bad_chains(void) {
  reset();
  set_desc(DESC_GPA, 0, RAM_GPA + 2 * REGION_SIZE - 4, 8, 0, 0); /* past the end of memory */
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, 0, 8, 0, 0); /* below memory */
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, DATA_GPA, UINT32_MAX, 0, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 1); /* a loop: 0 → 1 → 2 → 0 */
  set_desc(DESC_GPA, 1, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 2);
  set_desc(DESC_GPA, 2, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_NEXT, NUM); /* next outside the table */
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  set_desc(DESC_GPA, 0, DATA_GPA, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1); /* readable after writable */
  set_desc(DESC_GPA, 1, DATA_GPA, 8, 0, 0);
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EINVAL);
  /* The longest chain a table allows passes: every descriptor once. */
  for (uint16_t i = 0; i < NUM; i++) set_desc(DESC_GPA, i, DATA_GPA, 8, i + 1 < NUM ? VIRTQ_DESC_F_NEXT : 0, (uint16_t)(i + 1));
  offer(0);
  CHECK(virtq_pop(&vq, &mem, true, &req) == 1 && req.in_count == NUM);
}

static void test_broken_rings(void) {
  reset();
  *avail_u16(1) = NUM + 1; /* more entries than the ring holds */
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EIO);
  CHECK(vq.last_avail == 0);
  reset();
  offer(NUM); /* a head outside the table */
  CHECK(virtq_pop(&vq, &mem, true, &req) == -EIO);
  /* The used index continues from what the ring holds when set up again. */
  reset();
  *used_u16(1) = 7;
  CHECK(virtq_setup(&vq, &mem, NUM, RAM_UADDR, RAM_UADDR + 0x1000, RAM_UADDR + 0x2000) == 0 && vq.used_idx == 7);
}

/* Random descriptor tables: whatever pops lies inside guest memory. */
static void fuzz_pop(void) {
  static const uint64_t addrs[] = {DATA_GPA, RAM_GPA, RAM_GPA + REGION_SIZE - 8, RAM_GPA + 2 * REGION_SIZE - 8, 0,
                                   INDIRECT_GPA, UINT64_MAX - 4};
  int popped = 0;
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    reset();
    for (uint16_t i = 0; i < NUM; i++) set_desc(DESC_GPA, i, addrs[pick(7)] + pick(32), (uint32_t)pick(80), (uint16_t)pick(8), (uint16_t)pick(NUM + 2));
    for (uint16_t i = 0; i < 4; i++) set_desc(INDIRECT_GPA, i, addrs[pick(7)], (uint32_t)pick(80), (uint16_t)pick(8), (uint16_t)pick(6));
    if (pick(2)) set_desc(DESC_GPA, 0, INDIRECT_GPA, (uint32_t)(16 * pick(6)), VIRTQ_DESC_F_INDIRECT, 0);
    for (int k = 0; k < 3; k++) offer((uint16_t)pick(NUM + 1));
    for (int k = 0; k < 4; k++) {
      int rc = virtq_pop(&vq, &mem, pick(2), &req);
      if (rc != 1) continue;
      popped++;
      for (size_t j = 0; j < req.in_count + req.out_count; j++) {
        const struct iovec *v = j < req.in_count ? &req.in[j] : &req.out[j - req.in_count];
        int inside = 0;
        for (int r = 0; r < 2; r++)
          inside |= (uint8_t *)v->iov_base >= ram[r] && (uint8_t *)v->iov_base + v->iov_len <= ram[r] + REGION_SIZE;
        CHECK(inside);
      }
    }
  }
  CHECK(popped > 0);
}

int main(void) {
  for (int r = 0; r < 2; r++) {
    ram[r] = aligned_alloc(4096, REGION_SIZE);
    mem.regions[r] = (struct mem_region){.gpa = RAM_GPA + r * REGION_SIZE, .size = REGION_SIZE, .uaddr = RAM_UADDR + r * REGION_SIZE, .host = ram[r]};
  }
  mem.count = 2;
  test_translation();
  test_setup_refuses_bad_rings();
  test_not_set_up_has_nothing_pending();
  test_chain();
  test_buffer_across_regions();
  test_indirect();
  test_bad_chains();
  test_broken_rings();
  fuzz_pop();
  for (int r = 0; r < 2; r++) free(ram[r]);
  return test_finish("test_virtq");
}
