/* vhost-user messages as the front-end may send them, well formed and not: what is answered,
 * what is acked, what closes the connection, and that every descriptor given is taken. */
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "test.h"
#include "fs_server.h"
#include "vhost.h"

#define RAM_SIZE 0x10000ull
#define RAM_GPA 0x100000ull
#define RAM_UADDR 0x7f0000000000ull

static struct vhost_dev dev;
static struct vhost_msg msg, reply;
static size_t reply_len;

static void set_msg(uint32_t request, uint32_t flags, const void *payload, uint32_t size) {
  msg = (struct vhost_msg){.request = request, .flags = VHOST_USER_VERSION | flags, .size = size};
  if (size) memcpy(msg.payload, payload, size);
}

static int send_msg(int *fds, size_t fd_count) { return vhost_handle(&dev, &msg, fds, fd_count, &reply, &reply_len); }

static uint64_t reply_u64(void) {
  uint64_t value;
  memcpy(&value, reply.payload, sizeof value);
  return value;
}

static bool fd_open(int fd) { return fcntl(fd, F_GETFD) >= 0; }

static int ram_fd(void) {
  int fd = memfd_create("ram", MFD_CLOEXEC);
  CHECK(fd >= 0 && ftruncate(fd, (off_t)RAM_SIZE) == 0);
  return fd;
}

/* A SET_MEM_TABLE of one region of the memfd at offset. */
static void set_mem_msg(uint64_t size, uint64_t offset, uint32_t flags) {
  uint8_t payload[8 + 32] = {1};
  uint64_t region[4] = {RAM_GPA, size, RAM_UADDR, offset};
  memcpy(payload + 8, region, sizeof region);
  set_msg(VHOST_USER_SET_MEM_TABLE, flags, payload, sizeof payload);
}

static void test_features(void) {
  set_msg(VHOST_USER_GET_FEATURES, 0, NULL, 0);
  CHECK(send_msg(NULL, 0) == 0 && reply_len == VHOST_HEADER_SIZE + 8);
  CHECK(reply.flags == (VHOST_USER_VERSION | VHOST_USER_REPLY) && reply.request == VHOST_USER_GET_FEATURES);
  CHECK(reply_u64() & 1ull << VHOST_USER_F_PROTOCOL_FEATURES && reply_u64() & 1ull << VIRTIO_RING_F_INDIRECT_DESC);
  set_msg(VHOST_USER_GET_PROTOCOL_FEATURES, 0, NULL, 0);
  CHECK(send_msg(NULL, 0) == 0 && reply_u64() == (1ull << VHOST_USER_PROTOCOL_F_MQ | 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
  set_msg(VHOST_USER_GET_QUEUE_NUM, 0, NULL, 0);
  CHECK(send_msg(NULL, 0) == 0 && reply_u64() >= 2);
  uint64_t acked = vhost_features();
  set_msg(VHOST_USER_SET_FEATURES, 0, &acked, sizeof acked);
  CHECK(send_msg(NULL, 0) == 0 && reply_len == 0 && dev.features == acked);
  /* A feature never offered is refused, and acked as a failure when asked. */
  uint64_t event_idx = 1ull << 29;
  set_msg(VHOST_USER_SET_FEATURES, VHOST_USER_NEED_REPLY, &event_idx, sizeof event_idx);
  CHECK(send_msg(NULL, 0) == 0 && reply_len == VHOST_HEADER_SIZE + 8 && reply_u64() == 1 && dev.features == acked);
  set_msg(VHOST_USER_SET_OWNER, VHOST_USER_NEED_REPLY, NULL, 0);
  CHECK(send_msg(NULL, 0) == 0 && reply_len == VHOST_HEADER_SIZE + 8 && reply_u64() == 0);
  /* Requests never offered (here GET_CONFIG) fail their ack; without one they are dropped. */
  set_msg(24, VHOST_USER_NEED_REPLY, NULL, 0);
  CHECK(send_msg(NULL, 0) == 0 && reply_u64() == 1);
  set_msg(24, 0, NULL, 0);
  CHECK(send_msg(NULL, 0) == 0 && reply_len == 0);
}

static void test_malformed(void) {
  uint32_t short_payload = 0;
  set_msg(VHOST_USER_SET_FEATURES, 0, &short_payload, sizeof short_payload);
  CHECK(send_msg(NULL, 0) == -EPROTO);
  set_msg(VHOST_USER_SET_VRING_NUM, 0, &short_payload, sizeof short_payload);
  CHECK(send_msg(NULL, 0) == -EPROTO);
  set_msg(VHOST_USER_SET_VRING_ADDR, 0, &short_payload, sizeof short_payload);
  CHECK(send_msg(NULL, 0) == -EPROTO);
  set_msg(VHOST_USER_GET_FEATURES, 0, NULL, 0);
  msg.flags = 2; /* another protocol version */
  CHECK(send_msg(NULL, 0) == -EPROTO);
  set_msg(VHOST_USER_GET_FEATURES, 0, NULL, 0);
  msg.size = VHOST_MAX_PAYLOAD + 1;
  CHECK(send_msg(NULL, 0) == -EPROTO);
  /* A descriptor with a request that takes none is closed, and so is the connection. */
  int stray = eventfd(0, EFD_CLOEXEC);
  set_msg(VHOST_USER_GET_FEATURES, 0, NULL, 0);
  CHECK(send_msg(&stray, 1) == -EPROTO && stray == -1);
  /* A ring index past the two queues fails without closing. */
  uint32_t state[2] = {VHOST_QUEUES, 8};
  set_msg(VHOST_USER_SET_VRING_NUM, VHOST_USER_NEED_REPLY, state, sizeof state);
  CHECK(send_msg(NULL, 0) == 0 && reply_u64() == 1);
  uint32_t bad_num[2] = {0, 3};
  set_msg(VHOST_USER_SET_VRING_NUM, VHOST_USER_NEED_REPLY, bad_num, sizeof bad_num);
  CHECK(send_msg(NULL, 0) == 0 && reply_u64() == 1);
  /* A kick for a queue that does not exist: the descriptor is still taken. */
  int kick = eventfd(0, EFD_CLOEXEC), kept = kick;
  uint64_t index = 5;
  set_msg(VHOST_USER_SET_VRING_KICK, 0, &index, sizeof index);
  CHECK(send_msg(&kick, 1) == 0 && !fd_open(kept));
  /* The no-fd bit with a descriptor, or a descriptor missing without it. */
  kick = eventfd(0, EFD_CLOEXEC);
  kept = kick;
  index = VHOST_USER_VRING_NOFD;
  set_msg(VHOST_USER_SET_VRING_KICK, 0, &index, sizeof index);
  CHECK(send_msg(&kick, 1) == -EPROTO && !fd_open(kept));
  index = 0;
  set_msg(VHOST_USER_SET_VRING_CALL, 0, &index, sizeof index);
  CHECK(send_msg(NULL, 0) == -EPROTO);
}

static void test_mem_table(void) {
  int fd = ram_fd(), kept = fd;
  /* Regions counted wrong, no descriptor, a zero size, a size past the address space. */
  set_mem_msg(RAM_SIZE, 0, 0);
  msg.payload[0] = 2;
  CHECK(send_msg(&fd, 1) == -EPROTO && !fd_open(kept));
  set_mem_msg(RAM_SIZE, 0, 0);
  CHECK(send_msg(NULL, 0) == -EPROTO);
  fd = ram_fd();
  set_mem_msg(0, 0, VHOST_USER_NEED_REPLY);
  CHECK(send_msg(&fd, 1) == 0 && reply_u64() == 1 && dev.mem.count == 0);
  fd = ram_fd();
  set_mem_msg(UINT64_MAX, UINT64_MAX - 1, VHOST_USER_NEED_REPLY);
  CHECK(send_msg(&fd, 1) == 0 && reply_u64() == 1 && dev.mem.count == 0);
  /* Past the end of the file (touching it would be SIGBUS), or not a file at all. */
  fd = ram_fd();
  set_mem_msg(RAM_SIZE, 0x1000, VHOST_USER_NEED_REPLY);
  CHECK(send_msg(&fd, 1) == 0 && reply_u64() == 1 && dev.mem.count == 0);
  fd = eventfd(0, EFD_CLOEXEC);
  set_mem_msg(8, 0, VHOST_USER_NEED_REPLY);
  CHECK(send_msg(&fd, 1) == 0 && reply_u64() == 1 && dev.mem.count == 0);
  /* The good one: mapped (the descriptor closed, the mapping holding the memory). */
  fd = ram_fd();
  kept = fd;
  set_mem_msg(RAM_SIZE - 0x1000, 0x1000, VHOST_USER_NEED_REPLY);
  CHECK(send_msg(&fd, 1) == 0 && reply_u64() == 0 && dev.mem.count == 1 && !fd_open(kept));
  CHECK(mem_from_gpa(&dev.mem, RAM_GPA, 8) == (uint8_t *)dev.map[0] + 0x1000);
}

/* A ring set up, started, served and stopped: the used entry lands and the call is signalled. */
static void test_ring(void) {
  uint8_t *ram = mem_from_gpa(&dev.mem, RAM_GPA, RAM_SIZE - 0x1000);
  CHECK(ram != NULL);
  if (!ram) return;
  uint32_t num[2] = {1, 8};
  set_msg(VHOST_USER_SET_VRING_NUM, 0, num, sizeof num);
  CHECK(send_msg(NULL, 0) == 0);
  uint64_t addr[5] = {1, RAM_UADDR, RAM_UADDR + 0x2000, RAM_UADDR + 0x1000, 0}; /* index+flags, desc, used, avail, log */
  set_msg(VHOST_USER_SET_VRING_ADDR, VHOST_USER_NEED_REPLY, addr, sizeof addr);
  CHECK(send_msg(NULL, 0) == 0 && reply_u64() == 0);
  int kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  int kick_dup = dup(kick), call_dup = dup(call);
  uint64_t index = 1;
  set_msg(VHOST_USER_SET_VRING_KICK, 0, &index, sizeof index);
  CHECK(send_msg(&kick, 1) == 0 && kick == -1);
  set_msg(VHOST_USER_SET_VRING_CALL, 0, &index, sizeof index);
  CHECK(send_msg(&call, 1) == 0 && call == -1);
  /* Protocol features were acked: not live until enabled. */
  CHECK(!vhost_ring_live(&dev, 1));
  uint32_t enable[2] = {1, 1};
  set_msg(VHOST_USER_SET_VRING_ENABLE, 0, enable, sizeof enable);
  CHECK(send_msg(NULL, 0) == 0 && vhost_ring_live(&dev, 1) && !vhost_ring_live(&dev, 0));
  /* One request (an empty FUSE header: the stand-in answers its bare out header), one bad chain. */
  struct virtq_desc desc[3] = {
      {.addr = RAM_GPA + 0x3000, .len = 40, .flags = VIRTQ_DESC_F_NEXT, .next = 1},
      {.addr = RAM_GPA + 0x4000, .len = 256, .flags = VIRTQ_DESC_F_WRITE},
      {.addr = RAM_GPA + RAM_SIZE, .len = 8},
  };
  memcpy(ram, desc, sizeof desc);
  uint16_t avail[4] = {0, 2, 0, 2};
  memcpy(ram + 0x1000, avail, sizeof avail);
  CHECK(!vhost_serve(&dev, 1));
  uint32_t used[5];
  memcpy(used, ram + 0x2000, sizeof used);
  CHECK((used[0] >> 16) == 2 && used[1] == 0 && used[2] == 16 && used[3] == 2 && used[4] == 0);
  uint64_t calls = 0;
  CHECK(read(call_dup, &calls, sizeof calls) == sizeof calls && calls == 1);
  /* GET_VRING_BASE stops it and says where it was; the kick is closed. */
  uint32_t base[2] = {1, 0};
  set_msg(VHOST_USER_GET_VRING_BASE, 0, base, sizeof base);
  CHECK(send_msg(NULL, 0) == 0 && reply_len == VHOST_HEADER_SIZE + 8 && !vhost_ring_live(&dev, 1));
  memcpy(base, reply.payload, sizeof base);
  CHECK(base[0] == 1 && base[1] == 2 && dev.rings[1].kick == -1);
  close(kick_dup);
  close(call_dup);
}

/* Random messages without descriptors, each followed by serving both rings (in the memory
 * test_mem_table mapped): never a crash, never a reply but a header and a u64. */
static void fuzz_messages(void) {
  for (int round = 0; round < FUZZ_ROUNDS; round++) {
    msg.request = (uint32_t)pick(40);
    msg.flags = (uint32_t)(pick(4) ? VHOST_USER_VERSION | (pick(2) ? VHOST_USER_NEED_REPLY : 0) : pick(16));
    msg.size = (uint32_t)(pick(8) ? pick(48) : pick(VHOST_MAX_PAYLOAD + 2));
    for (size_t i = 0; i < 48; i++) msg.payload[i] = (uint8_t)(pick(3) ? pick(4) : test_rand(&test_rng));
    int rc = send_msg(NULL, 0);
    CHECK(rc == 0 || rc == -EPROTO);
    CHECK(reply_len == 0 || reply_len == VHOST_HEADER_SIZE + 8);
    for (size_t i = 0; i < VHOST_QUEUES; i++) vhost_serve(&dev, i);
  }
}

/* The stand-in FUSE half answers for the device. */
static size_t handle(void *ctx, const struct iovec *in, size_t in_count, const struct iovec *out, size_t out_count) {
  return fs_server_handle(ctx, in, in_count, out, out_count);
}

int main(void) {
  vhost_init(&dev, handle, NULL);
  test_features();
  test_malformed();
  test_mem_table();
  test_ring();
  fuzz_messages();
  vhost_free(&dev);
  CHECK(dev.mem.count == 0 && dev.rings[1].call == -1);
  return test_finish("test_vhost");
}
