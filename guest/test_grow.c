/* Growing the rootfs: the superblock as mke2fs writes it, the target, and the errors a
 * failed grow reports (a regular file stands for the device; /proc, which has no such
 * ioctl, for the mounted filesystem). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "grow.h"
#include "test.h"

static char dir[] = "/tmp/test_grow.XXXXXX";

static void make_ext4(const char *path, const char *features, const char *size) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "mke2fs -q -F -t ext4 -b 4096 -O %s %s %s >/dev/null", features, path, size);
  CHECK(system(cmd) == 0);
}

static int read_size(const char *path, struct ext4_size *fs) {
  uint8_t super[GROW_SUPER_LEN];
  int fd = open(path, O_RDONLY);
  CHECK(fd >= 0);
  CHECK(pread(fd, super, sizeof super, GROW_SUPER_OFFSET) == (ssize_t)sizeof super);
  close(fd);
  return grow_parse_super(super, fs);
}

static void test_the_superblock_as_mke2fs_writes_it(void) {
  char path[64];
  snprintf(path, sizeof path, "%s/a.ext4", dir);
  struct ext4_size fs;
  make_ext4(path, "64bit", "64M");
  CHECK(read_size(path, &fs) == 0 && fs.blocks == 16384 && fs.block_size == 4096);
  make_ext4(path, "^64bit", "100M");
  CHECK(read_size(path, &fs) == 0 && fs.blocks == 25600 && fs.block_size == 4096);
  /* The high half counts only with the 64bit feature. */
  uint8_t super[GROW_SUPER_LEN] = {0};
  super[0x38] = 0x53, super[0x39] = 0xEF, super[0x18] = 2, super[0x04] = 0x10, super[0x150] = 1;
  CHECK(grow_parse_super(super, &fs) == 0 && fs.blocks == 0x10 && fs.block_size == 4096);
  super[0x60] = 0x80;
  CHECK(grow_parse_super(super, &fs) == 0 && fs.blocks == 0x100000010ull);
  super[0x18] = 7;
  CHECK(grow_parse_super(super, &fs) == -EINVAL);
  super[0x18] = 2, super[0x38] = 0;
  CHECK(grow_parse_super(super, &fs) == -EINVAL);
}

static void test_the_target_is_the_device_in_whole_blocks_and_never_smaller(void) {
  struct ext4_size fs = {16384, 4096};
  CHECK(grow_target(&fs, 64ull << 20) == 0);
  CHECK(grow_target(&fs, (64ull << 20) + 4095) == 0);
  CHECK(grow_target(&fs, (64ull << 20) + 4096) == 16385);
  CHECK(grow_target(&fs, 20ull << 30) == 5242880);
  CHECK(grow_target(&fs, 32ull << 20) == 0);
}

static void test_a_filesystem_that_fills_its_device_is_left_alone(void) {
  char path[64], err[256] = "";
  snprintf(path, sizeof path, "%s/b.ext4", dir);
  make_ext4(path, "64bit", "64M");
  /* /proc has no EXT4_IOC_RESIZE_FS: reaching the ioctl would fail. */
  CHECK(grow_rootfs(path, "/proc", err, sizeof err) == 0);
  CHECK_STR(err, "");
}

static void test_a_failed_grow_names_the_device_sizes_and_reason(void) {
  char path[64], err[256], want[320];
  snprintf(path, sizeof path, "%s/c.ext4", dir);
  make_ext4(path, "64bit", "64M");
  CHECK(truncate(path, 128ll << 20) == 0);
  CHECK(grow_rootfs(path, "/proc", err, sizeof err) == -1);
  snprintf(want, sizeof want, "grow the rootfs on %s from 64 MiB to 128 MiB: ioctl(EXT4_IOC_RESIZE_FS): %s", path, strerror(ENOTTY));
  CHECK_STR(err, want);

  CHECK(grow_rootfs(path, "/nonexistent", err, sizeof err) == -1);
  snprintf(want, sizeof want, "grow the rootfs on %s: open(/nonexistent): %s", path, strerror(ENOENT));
  CHECK_STR(err, want);

  /* Not ext4, too short for a superblock, not there. */
  CHECK(truncate(path, 0) == 0 && truncate(path, 4096) == 0);
  CHECK(grow_rootfs(path, "/proc", err, sizeof err) == -1);
  snprintf(want, sizeof want, "grow the rootfs on %s: read superblock(%s): %s", path, path, strerror(EINVAL));
  CHECK_STR(err, want);
  CHECK(truncate(path, 1200) == 0);
  CHECK(grow_rootfs(path, "/proc", err, sizeof err) == -1);
  snprintf(want, sizeof want, "grow the rootfs on %s: read superblock(%s): %s", path, path, strerror(EIO));
  CHECK_STR(err, want);
  CHECK(unlink(path) == 0);
  CHECK(grow_rootfs(path, "/proc", err, sizeof err) == -1);
  snprintf(want, sizeof want, "grow the rootfs on %s: open(%s): %s", path, path, strerror(ENOENT));
  CHECK_STR(err, want);
}

int main(void) {
  if (!mkdtemp(dir)) return perror("mkdtemp"), 1;
  test_the_superblock_as_mke2fs_writes_it();
  test_the_target_is_the_device_in_whole_blocks_and_never_smaller();
  test_a_filesystem_that_fills_its_device_is_left_alone();
  test_a_failed_grow_names_the_device_sizes_and_reason();
  char cmd[64];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  CHECK(system(cmd) == 0);
  return test_finish("test_grow");
}
