#include "wake.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "kfile.h"
#include "log.h"

/* linux/random.h, which musl's headers lack. */
#ifndef RNDADDENTROPY
#define RNDADDENTROPY _IOW('R', 0x03, int[2])
#define RNDRESEEDCRNG _IO('R', 0x07)
#endif

#define VIRTIO_BLK_DRIVER "/sys/bus/virtio/drivers/virtio_blk"
#define VIRTIO_DEVICES "/sys/bus/virtio/devices"
#define VIRTIO_ID_BLOCK 2
/* The system disk (root=/dev/vda): mounted as /, never probed again. */
#define SYSTEM_DISK "vda"

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

/* The block device name (vdb) of a virtio device bound to virtio_blk, or "" when it has none. */
static void disk_name(const char *device, char *name, size_t cap) {
  char path[320];
  name[0] = '\0';
  snprintf(path, sizeof path, VIRTIO_BLK_DRIVER "/%s/block", device);
  DIR *dir = opendir(path);
  if (!dir) return;
  for (struct dirent *e; (e = readdir(dir));) {
    if (e->d_name[0] == '.') continue;
    snprintf(name, cap, "%s", e->d_name);
    break;
  }
  closedir(dir);
}

int wake_release_disks(char *err, size_t errlen) {
  DIR *dir = opendir(VIRTIO_BLK_DRIVER);
  if (!dir) {
    snprintf(err, errlen, "open " VIRTIO_BLK_DRIVER ": %s", strerror(errno));
    return -1;
  }
  int rc = 0;
  for (struct dirent *e; rc == 0 && (e = readdir(dir));) {
    char name[256];
    if (strncmp(e->d_name, "virtio", 6) != 0) continue;
    disk_name(e->d_name, name, sizeof name);
    if (strcmp(name, SYSTEM_DISK) == 0) continue;
    if (kfile_write(VIRTIO_BLK_DRIVER "/unbind", e->d_name) < 0) {
      snprintf(err, errlen, "unbind disk %s: %s", e->d_name, strerror(errno));
      rc = -1;
    }
  }
  closedir(dir);
  return rc;
}

/* Whether the virtio device is a block device (virtio id 2) that no driver holds. */
static bool unbound_disk(const char *device) {
  char path[320], id[16] = "";
  snprintf(path, sizeof path, VIRTIO_DEVICES "/%s/driver", device);
  if (access(path, F_OK) == 0) return false;
  snprintf(path, sizeof path, VIRTIO_DEVICES "/%s/device", device);
  FILE *f = fopen(path, "re");
  if (!f) return false;
  bool block = fgets(id, sizeof id, f) && strtoul(id, NULL, 16) == VIRTIO_ID_BLOCK;
  fclose(f);
  return block;
}

/* Binds the unbound disks in name order (virtio0, virtio1, …: the command line's order): the
 * kernel hands out vdb, vdc, … by lowest free index, so each gets the name it had. */
static int bind_disks(char *err, size_t errlen) {
  struct dirent **names;
  int n = scandir(VIRTIO_DEVICES, &names, NULL, versionsort);
  if (n < 0) {
    snprintf(err, errlen, "open " VIRTIO_DEVICES ": %s", strerror(errno));
    return -1;
  }
  int rc = 0;
  for (int i = 0; i < n; i++) {
    if (rc == 0 && strncmp(names[i]->d_name, "virtio", 6) == 0 && unbound_disk(names[i]->d_name) &&
        kfile_write(VIRTIO_BLK_DRIVER "/bind", names[i]->d_name) < 0) {
      snprintf(err, errlen, "bind disk %s: %s", names[i]->d_name, strerror(errno));
      rc = -1;
    }
    free(names[i]);
  }
  free(names);
  return rc;
}

int wake_apply(const struct wake_request *req, char *err, size_t errlen) {
  struct timespec now = {.tv_sec = (time_t)req->time_s, .tv_nsec = (long)req->time_ns};
  if (clock_settime(CLOCK_REALTIME, &now) < 0) {
    snprintf(err, errlen, "set the clock: %s", strerror(errno));
    return -1;
  }
  if (reseed(req, err, errlen) < 0) return -1;
  if (req->reprobe && (wake_release_disks(err, errlen) < 0 || bind_disks(err, errlen) < 0)) return -1;
  return 0;
}
