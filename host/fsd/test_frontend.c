/*
 * Plays QEMU against a real fsd process (argv[1]) over its unix socket: guest RAM in a
 * memfd, the memory table and both rings set up as QEMU 7.2 does, then FUSE requests
 * through the queues, kicks, and the calls that answer them. Checks only what any FUSE
 * server answers (INIT's header and version, GETATTR of the root), so it runs against the
 * stand-in server and the real one alike.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "vhost.h"

#define RAM_SIZE 0x200000ull
#define RAM_GPA 0x100000000ull /* above 4 GiB, as a guest's high RAM */
#define NUM 16
/* The rings of queue q and the data area, as offsets into guest RAM. */
#define DESC(q) (0x1000ull + (q) * 0x4000)
#define AVAIL(q) (DESC(q) + 0x1000)
#define USED(q) (DESC(q) + 0x2000)
#define INDIRECT 0x9000ull
#define REQUEST 0x10000ull
#define REPLY 0x20000ull

static const char *fsd;
static char dir[] = "/tmp/fsd-frontend-XXXXXX";
static char socket_path[100]; /* fits sun_path */
static uint8_t *ram;
static int ram_fd, kick[2], call[2];
static uint16_t avail_idx[2];

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

static pid_t start_fsd(const char *share) {
  unlink(socket_path); /* a socket left by a failed check would look ready */
  pid_t pid = fork();
  if (pid == 0) {
    execl(fsd, fsd, "--socket", socket_path, "--share", share, (char *)NULL);
    _exit(127);
  }
  /* Ready once its socket exists (the runtime waits the same way). */
  struct stat st;
  for (long long deadline = now_ms() + 10000; stat(socket_path, &st) < 0 && now_ms() < deadline;) usleep(5000);
  CHECK(stat(socket_path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
  return pid;
}

/* fsd's exit status, or -1 if it has not exited within the deadline (then it is killed). */
static int wait_exit(pid_t pid) {
  int status;
  for (long long deadline = now_ms() + 10000; now_ms() < deadline; usleep(5000)) {
    if (waitpid(pid, &status, WNOHANG) == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  return -1;
}

static int dial(void) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Sends a message with its descriptors, and reads the reply when one is expected. */
static void send_msg(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size, const int *fds, size_t fd_count) {
  struct vhost_msg msg = {.request = request, .flags = VHOST_USER_VERSION | flags, .size = size};
  if (size) memcpy(msg.payload, payload, size);
  struct iovec iov = {.iov_base = &msg, .iov_len = VHOST_HEADER_SIZE + size};
  union {
    struct cmsghdr align;
    char bytes[CMSG_SPACE(sizeof(int) * VHOST_MAX_FDS)];
  } control;
  struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
  if (fd_count) {
    mh.msg_control = control.bytes;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * fd_count);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    *c = (struct cmsghdr){.cmsg_len = CMSG_LEN(sizeof(int) * fd_count), .cmsg_level = SOL_SOCKET, .cmsg_type = SCM_RIGHTS};
    memcpy(CMSG_DATA(c), fds, sizeof(int) * fd_count);
  }
  CHECK(sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)iov.iov_len);
}

static uint64_t read_u64_reply(int sock, uint32_t request) {
  uint8_t buf[VHOST_HEADER_SIZE + 8];
  struct pollfd p = {.fd = sock, .events = POLLIN};
  CHECK(poll(&p, 1, 10000) == 1);
  CHECK(recv(sock, buf, sizeof buf, MSG_WAITALL) == (ssize_t)sizeof buf);
  uint32_t header[3];
  memcpy(header, buf, sizeof header);
  CHECK(header[0] == request && header[1] == (VHOST_USER_VERSION | VHOST_USER_REPLY) && header[2] == 8);
  uint64_t value;
  memcpy(&value, buf + VHOST_HEADER_SIZE, sizeof value);
  return value;
}

static uint64_t get_u64(int sock, uint32_t request) {
  send_msg(sock, request, 0, NULL, 0, NULL, 0);
  return read_u64_reply(sock, request);
}

/* A request that only acks (REPLY_ACK): 0 for done. */
static uint64_t set_acked(int sock, uint32_t request, const void *payload, uint32_t size, const int *fds, size_t fd_count) {
  send_msg(sock, request, VHOST_USER_NEED_REPLY, payload, size, fds, fd_count);
  return read_u64_reply(sock, request);
}

/* What QEMU does when the guest driver sets DRIVER_OK: features, memory, then each ring. */
static void set_up(int sock) {
  uint64_t features = get_u64(sock, VHOST_USER_GET_FEATURES);
  CHECK((features & (1ull << VIRTIO_F_VERSION_1 | 1ull << VHOST_USER_F_PROTOCOL_FEATURES)) ==
        (1ull << VIRTIO_F_VERSION_1 | 1ull << VHOST_USER_F_PROTOCOL_FEATURES));
  uint64_t protocol = get_u64(sock, VHOST_USER_GET_PROTOCOL_FEATURES);
  CHECK(protocol & 1ull << VHOST_USER_PROTOCOL_F_MQ);
  CHECK(protocol & 1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK);
  send_msg(sock, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &protocol, 8, NULL, 0);
  CHECK(get_u64(sock, VHOST_USER_GET_QUEUE_NUM) >= 2);
  send_msg(sock, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
  CHECK(set_acked(sock, VHOST_USER_SET_FEATURES, &features, 8, NULL, 0) == 0);

  struct {
    uint32_t count, padding;
    uint64_t gpa, size, uaddr, offset;
  } table = {1, 0, RAM_GPA, RAM_SIZE, (uint64_t)(uintptr_t)ram, 0};
  CHECK(set_acked(sock, VHOST_USER_SET_MEM_TABLE, &table, sizeof table, &ram_fd, 1) == 0);
  for (uint32_t q = 0; q < 2; q++) {
    uint32_t num[2] = {q, NUM}, base[2] = {q, 0};
    send_msg(sock, VHOST_USER_SET_VRING_NUM, 0, num, 8, NULL, 0);
    send_msg(sock, VHOST_USER_SET_VRING_BASE, 0, base, 8, NULL, 0);
    uint64_t ua = (uint64_t)(uintptr_t)ram;
    struct {
      uint32_t index, flags;
      uint64_t desc, used, avail, log;
    } addr = {q, 0, ua + DESC(q), ua + USED(q), ua + AVAIL(q), 0};
    CHECK(set_acked(sock, VHOST_USER_SET_VRING_ADDR, &addr, sizeof addr, NULL, 0) == 0);
    uint64_t index = q;
    send_msg(sock, VHOST_USER_SET_VRING_KICK, 0, &index, 8, &kick[q], 1);
    send_msg(sock, VHOST_USER_SET_VRING_CALL, 0, &index, 8, &call[q], 1);
    uint32_t enable[2] = {q, 1};
    CHECK(set_acked(sock, VHOST_USER_SET_VRING_ENABLE, enable, 8, NULL, 0) == 0);
  }
}

static void set_desc(uint64_t table, uint16_t i, uint64_t gpa, uint32_t len, uint16_t flags, uint16_t next) {
  struct virtq_desc d = {.addr = gpa, .len = len, .flags = flags, .next = next};
  memcpy(ram + table + i * sizeof d, &d, sizeof d);
}

/* Offers head on queue q, kicks (unless fsd polls the ring), and waits for the call; the
 * used entry's length, or -1. */
static long long submit_to(uint32_t q, uint16_t head, bool kicked) {
  memcpy(ram + AVAIL(q) + 4 + (avail_idx[q] % NUM) * 2, &head, 2);
  __atomic_store_n((uint16_t *)(ram + AVAIL(q) + 2), ++avail_idx[q], __ATOMIC_RELEASE);
  if (kicked) CHECK(eventfd_write(kick[q], 1) == 0);
  struct pollfd p = {.fd = call[q], .events = POLLIN};
  if (poll(&p, 1, 10000) != 1) return -1;
  eventfd_t calls;
  eventfd_read(call[q], &calls);
  uint16_t used = __atomic_load_n((uint16_t *)(ram + USED(q) + 2), __ATOMIC_ACQUIRE);
  if (used != avail_idx[q]) return -1;
  uint32_t elem[2];
  memcpy(elem, ram + USED(q) + 4 + ((used - 1) % NUM) * 8, sizeof elem);
  CHECK(elem[0] == head);
  return elem[1];
}

static long long submit(uint32_t q, uint16_t head) { return submit_to(q, head, true); }

/* Writes a request (header and body) at REQUEST; the descriptors are the caller's. */
static uint32_t put_request(uint32_t opcode, uint64_t unique, uint64_t nodeid, const void *body, uint32_t body_len) {
  struct fuse_in_header in = {.len = (uint32_t)sizeof in + body_len, .opcode = opcode, .unique = unique, .nodeid = nodeid};
  memcpy(ram + REQUEST, &in, sizeof in);
  if (body_len) memcpy(ram + REQUEST + sizeof in, body, body_len);
  memset(ram + REPLY, 0xee, 4096);
  return in.len;
}

static struct fuse_out_header reply_header(void) {
  struct fuse_out_header out;
  memcpy(&out, ram + REPLY, sizeof out);
  return out;
}

static void test_requests(void) {
  /* FUSE_INIT on the request queue: a plain chain, request then reply. */
  struct fuse_init_in init = {.major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION, .max_readahead = 65536};
  uint32_t len = put_request(FUSE_INIT, 1, 0, &init, sizeof init);
  set_desc(DESC(1), 0, RAM_GPA + REQUEST, len, VIRTQ_DESC_F_NEXT, 1);
  set_desc(DESC(1), 1, RAM_GPA + REPLY, 4096, VIRTQ_DESC_F_WRITE, 0);
  long long used = submit(1, 0);
  struct fuse_out_header out = reply_header();
  CHECK(used >= (long long)sizeof out && used == out.len && out.error == 0 && out.unique == 1);
  struct fuse_init_out init_out;
  memcpy(&init_out, ram + REPLY + sizeof out, sizeof init_out);
  CHECK(init_out.major == FUSE_KERNEL_VERSION);

  /* GETATTR of the root through an indirect table, its reply split over two buffers. */
  struct fuse_getattr_in getattr = {0};
  len = put_request(FUSE_GETATTR, 2, FUSE_ROOT_ID, &getattr, sizeof getattr);
  set_desc(INDIRECT, 0, RAM_GPA + REQUEST, len, VIRTQ_DESC_F_NEXT, 1);
  set_desc(INDIRECT, 1, RAM_GPA + REPLY, 24, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 2);
  set_desc(INDIRECT, 2, RAM_GPA + REPLY + 24, 4096 - 24, VIRTQ_DESC_F_WRITE, 0);
  set_desc(DESC(1), 2, RAM_GPA + INDIRECT, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
  used = submit(1, 2);
  out = reply_header();
  struct fuse_attr_out attr;
  memcpy(&attr, ram + REPLY + sizeof out, sizeof attr);
  /* The device's root is the mux's: read-only, whatever the share's own mode (0700). */
  CHECK(used == (long long)(sizeof out + sizeof attr) && out.error == 0 && out.unique == 2 && attr.attr.mode == (S_IFDIR | 0555));

  /* A buffer outside guest memory: answered empty, and the queue goes on. */
  set_desc(DESC(1), 3, RAM_GPA + RAM_SIZE - 16, 4096, VIRTQ_DESC_F_WRITE, 0);
  CHECK(submit(1, 3) == 0);
  len = put_request(FUSE_GETATTR, 3, FUSE_ROOT_ID, &getattr, sizeof getattr);
  set_desc(DESC(1), 4, RAM_GPA + REQUEST, len, VIRTQ_DESC_F_NEXT, 5);
  set_desc(DESC(1), 5, RAM_GPA + REPLY, 4096, VIRTQ_DESC_F_WRITE, 0);
  CHECK(submit(1, 4) > 0 && reply_header().unique == 3);

  /* The share is the root's entry of its name. */
  len = put_request(FUSE_LOOKUP, 6, FUSE_ROOT_ID, "data", 5);
  set_desc(DESC(1), 6, RAM_GPA + REQUEST, len, VIRTQ_DESC_F_NEXT, 7);
  set_desc(DESC(1), 7, RAM_GPA + REPLY, 4096, VIRTQ_DESC_F_WRITE, 0);
  CHECK(submit(1, 6) == (long long)(sizeof out + sizeof(struct fuse_entry_out)));
  struct fuse_entry_out entry;
  memcpy(&entry, ram + REPLY + sizeof out, sizeof entry);
  CHECK(reply_header().error == 0 && entry.nodeid == (1ull << 48 | 1) && (entry.attr.mode & 0777) == 0700);

  /* FORGET on the hiprio queue: no reply, still a used entry. */
  struct fuse_forget_in forget = {.nlookup = 1};
  len = put_request(FUSE_FORGET, 4, 5, &forget, sizeof forget);
  set_desc(DESC(0), 0, RAM_GPA + REQUEST, len, 0, 0);
  CHECK(submit(0, 0) == 0);
}

/* A kick without a descriptor (the no-fd bit): fsd polls the ring and still answers. */
static void test_polled_ring(int sock) {
  uint64_t polled = VHOST_USER_VRING_NOFD | 0;
  CHECK(set_acked(sock, VHOST_USER_SET_VRING_KICK, &polled, 8, NULL, 0) == 0);
  struct fuse_forget_in forget = {.nlookup = 1};
  uint32_t len = put_request(FUSE_FORGET, 5, 5, &forget, sizeof forget);
  set_desc(DESC(0), 1, RAM_GPA + REQUEST, len, 0, 0);
  CHECK(submit_to(0, 1, false) == 0);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: test_frontend FSD\n");
    return 2;
  }
  fsd = argv[1];
  CHECK(mkdtemp(dir) != NULL);
  snprintf(socket_path, sizeof socket_path, "%s/fs.sock", dir);
  char share[256];
  snprintf(share, sizeof share, "data:%s", dir);

  ram_fd = memfd_create("guest-ram", MFD_CLOEXEC);
  CHECK(ftruncate(ram_fd, RAM_SIZE) == 0);
  ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, ram_fd, 0);
  for (int q = 0; q < 2; q++) {
    kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    call[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  }

  /* A whole session: set up, requests, a second front-end refused, stop, hang up → exit 0. */
  pid_t pid = start_fsd(share);
  int sock = dial();
  CHECK(sock >= 0);
  set_up(sock);
  test_requests();
  test_polled_ring(sock);
  CHECK(dial() < 0);
  uint32_t ring1[2] = {1, 0};
  send_msg(sock, VHOST_USER_GET_VRING_BASE, 0, ring1, 8, NULL, 0);
  uint8_t buf[VHOST_HEADER_SIZE + 8];
  CHECK(recv(sock, buf, sizeof buf, MSG_WAITALL) == (ssize_t)sizeof buf);
  memcpy(ring1, buf + VHOST_HEADER_SIZE, 8);
  CHECK(ring1[0] == 1 && ring1[1] == avail_idx[1]);
  close(sock);
  CHECK(wait_exit(pid) == 0);
  CHECK(access(socket_path, F_OK) < 0);

  /* A message announcing more payload than any: the connection is closed, fsd is done. */
  pid = start_fsd(share);
  sock = dial();
  uint32_t header[3] = {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, VHOST_MAX_PAYLOAD + 1};
  CHECK(send(sock, header, sizeof header, MSG_NOSIGNAL) == sizeof header);
  CHECK(wait_exit(pid) == 0);
  close(sock);

  /* SIGTERM before any front-end: exit 0, the socket removed. */
  pid = start_fsd(share);
  kill(pid, SIGTERM);
  CHECK(wait_exit(pid) == 0);
  CHECK(access(socket_path, F_OK) < 0);

  rmdir(dir);
  return test_finish("test_frontend");
}
