#include "grow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h> /* BLKGETSIZE64, in musl and glibc alike (no kernel headers with musl-gcc) */
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

/* linux/ext4.h is not in every libc's kernel headers: the ioctl as the kernel defines it
 * (fs/ext4/ext4.h), taking the new block count as a __u64. */
#define EXT4_IOC_RESIZE_FS _IOW('f', 16, uint64_t)

/* Superblock offsets (the kernel's struct ext4_super_block; all little-endian). */
#define SB_BLOCKS_COUNT_LO 0x04
#define SB_LOG_BLOCK_SIZE 0x18
#define SB_MAGIC 0x38
#define SB_FEATURE_INCOMPAT 0x60
#define SB_BLOCKS_COUNT_HI 0x150
#define EXT4_MAGIC 0xEF53
#define EXT4_FEATURE_INCOMPAT_64BIT 0x80u
#define MIB (1024u * 1024u)

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int grow_parse_super(const uint8_t *super, struct ext4_size *out) {
  if ((super[SB_MAGIC] | super[SB_MAGIC + 1] << 8) != EXT4_MAGIC) return -EINVAL;
  /* 1 KiB to 64 KiB blocks: what mke2fs and the kernel accept. */
  uint32_t log = le32(super + SB_LOG_BLOCK_SIZE);
  if (log > 6) return -EINVAL;
  out->block_size = 1024u << log;
  out->blocks = le32(super + SB_BLOCKS_COUNT_LO);
  if (le32(super + SB_FEATURE_INCOMPAT) & EXT4_FEATURE_INCOMPAT_64BIT)
    out->blocks |= (uint64_t)le32(super + SB_BLOCKS_COUNT_HI) << 32;
  return 0;
}

uint64_t grow_target(const struct ext4_size *fs, uint64_t device_bytes) {
  uint64_t blocks = device_bytes / fs->block_size;
  return blocks > fs->blocks ? blocks : 0;
}

/* "op(path): reason" logged, and "grow the rootfs on <device>: op(path): reason" in err. Returns -1. */
static int fail(const char *device, const char *op, const char *path, char *err, size_t errlen) {
  int e = errno;
  log_errno(op, path);
  snprintf(err, errlen, "grow the rootfs on %s: %s(%s): %s", device, op, path, strerror(e));
  return -1;
}

/* The device's size in bytes: BLKGETSIZE64 for a block device, the size of a regular file. */
static int device_size(int fd, uint64_t *bytes) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -1;
  if (!S_ISBLK(st.st_mode)) {
    *bytes = (uint64_t)st.st_size;
    return 0;
  }
  return ioctl(fd, BLKGETSIZE64, bytes);
}

int grow_rootfs(const char *device, const char *mountpoint, char *err, size_t errlen) {
  int fd = open(device, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(device, "open", device, err, errlen);
  uint8_t super[GROW_SUPER_LEN];
  uint64_t device_bytes = 0;
  if (device_size(fd, &device_bytes) < 0) {
    int rc = fail(device, "ioctl(BLKGETSIZE64)", device, err, errlen);
    close(fd);
    return rc;
  }
  ssize_t n = pread(fd, super, sizeof super, GROW_SUPER_OFFSET);
  if (n != (ssize_t)sizeof super) {
    if (n >= 0) errno = EIO; /* a device too short to hold a superblock */
    int rc = fail(device, "read superblock", device, err, errlen);
    close(fd);
    return rc;
  }
  close(fd);
  struct ext4_size fs;
  if (grow_parse_super(super, &fs) < 0) {
    errno = EINVAL;
    return fail(device, "read superblock", device, err, errlen);
  }
  uint64_t target = grow_target(&fs, device_bytes);
  if (target == 0) return 0;
  unsigned long long from = fs.blocks * fs.block_size / MIB, to = target * fs.block_size / MIB;
  int dir = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return fail(device, "open", mountpoint, err, errlen);
  if (ioctl(dir, EXT4_IOC_RESIZE_FS, &target) < 0) {
    int e = errno;
    log_errno("ioctl(EXT4_IOC_RESIZE_FS)", mountpoint);
    snprintf(err, errlen, "grow the rootfs on %s from %llu MiB to %llu MiB: ioctl(EXT4_IOC_RESIZE_FS): %s", device, from, to,
             strerror(e));
    close(dir);
    return -1;
  }
  close(dir);
  log_msg("grew the rootfs on %s from %llu MiB to %llu MiB", device, from, to);
  return 0;
}
