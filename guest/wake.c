#include "wake.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h> /* BLKGETSIZE64, BLKFLSBUF (musl lacks linux/fs.h) */
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* linux/random.h, which musl's headers lack. */
#ifndef RNDADDENTROPY
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG _IO('R', 0x07)
#endif

/* How long a disk may take to show the box's size. The host changes the size before the VM
 * runs (QMP block_resize); the guest reads it in a workqueue, within milliseconds even under
 * TCG. Past this the host's change is taken as lost, and the host boots the box cold. */
#define DISK_SIZE_WAIT_MS 5000

static int reseed(const struct wake_request *req, char *err, size_t errlen) {
  struct {
    int entropy_count;
    int buf_size;
    unsigned char buf[WAKE_ENTROPY_MAX];
  } pool;
  pool.entropy_count = (int)req->entropy_len * 8;
  pool.buf_size = (int)req->entropy_len;
  memcpy(pool.buf, req->entropy, req->entropy_len);
  int fd = open("/dev/urandom", O_RDWR | O_CLOEXEC);
  int rc = fd < 0 ? -1 : ioctl(fd, RNDADDENTROPY, &pool);
  /* Credited entropy alone waits for the next scheduled reseed: force one now, so the very
   * next read differs from every other guest restored from the same memory. */
  if (rc == 0) rc = ioctl(fd, RNDRESEEDCRNG);
  int e = errno;
  explicit_bzero(&pool, sizeof pool);
  if (fd >= 0) close(fd);
  if (rc == 0) return 0;
  snprintf(err, errlen, "reseed the kernel's RNG: %s", strerror(e));
  return -1;
}

/* Makes one of the template's stand-in disks the box's: waits until the kernel has read the
 * box's disk size (the host's config change), then drops every page cached of the stand-in,
 * so what the box reads next comes from its own disk. */
static int adopt_disk(const struct wake_disk *disk, char *err, size_t errlen) {
  char path[16];
  snprintf(path, sizeof path, "/dev/%s", disk->name);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    snprintf(err, errlen, "open %s: %s", path, strerror(errno));
    return -1;
  }
  const struct timespec tick = {.tv_nsec = 1000000};
  const uint64_t deadline = clock_now_ns() + DISK_SIZE_WAIT_MS * 1000000ull;
  uint64_t bytes = 0;
  int rc = 0;
  while (rc == 0) {
    if (ioctl(fd, BLKGETSIZE64, &bytes) < 0) {
      snprintf(err, errlen, "ioctl(BLKGETSIZE64) on %s: %s", path, strerror(errno));
      rc = -1;
    } else if (bytes == disk->bytes) {
      break;
    } else if (clock_now_ns() >= deadline) {
      snprintf(err, errlen, "%s still has %llu bytes after %d ms, the box's disk %llu: its size change never came",
               path, (unsigned long long)bytes, DISK_SIZE_WAIT_MS, (unsigned long long)disk->bytes);
      rc = -1;
    } else {
      nanosleep(&tick, NULL);
    }
  }
  if (rc == 0 && ioctl(fd, BLKFLSBUF, 0) < 0) {
    snprintf(err, errlen, "ioctl(BLKFLSBUF) on %s: %s", path, strerror(errno));
    rc = -1;
  }
  close(fd);
  return rc;
}

int wake_apply(const struct wake_request *req, char *err, size_t errlen) {
  struct timespec now = {.tv_sec = (time_t)req->time_s, .tv_nsec = (long)req->time_ns};
  if (clock_settime(CLOCK_REALTIME, &now) < 0) {
    snprintf(err, errlen, "set the clock: %s", strerror(errno));
    return -1;
  }
  if (reseed(req, err, errlen) < 0) return -1;
  for (size_t i = 0; i < req->ndisks; i++)
    if (adopt_disk(&req->disks[i], err, errlen) < 0) return -1;
  return 0;
}
