/* Growing the rootfs's ext4 online to fill its block device: a box made with a disk larger
 * than its image (`--disk-size`), and any disk that is larger than its filesystem (a
 * restored snapshot, an imported box). Checked at every CONFIG; cheap when there is nothing
 * to do (one superblock read and one ioctl for the device's size). */
#ifndef BOXLITE_GROW_H
#define BOXLITE_GROW_H

#include <stddef.h>
#include <stdint.h>

/* Bytes from the start of the superblock that grow_parse_super reads (through s_blocks_count_hi). */
#define GROW_SUPER_LEN 0x154u
/* Where an ext4 superblock starts on its device. */
#define GROW_SUPER_OFFSET 1024

struct ext4_size {
  uint64_t blocks;
  uint32_t block_size;
};

/* The filesystem's size from the GROW_SUPER_LEN bytes of an ext4 superblock. Returns 0, or
 * -EINVAL when they are not one (bad magic, an impossible block size). */
int grow_parse_super(const uint8_t *super, struct ext4_size *out);
/* The block count to grow a filesystem of `fs` to on a device of device_bytes: 0 when it
 * fills the device already (or the device is smaller: never shrink). */
uint64_t grow_target(const struct ext4_size *fs, uint64_t device_bytes);
/* Grows the ext4 on device, mounted at mountpoint, to the device's size when it is smaller
 * (EXT4_IOC_RESIZE_FS; a regular file as device stands for its size, for tests). Returns 0
 * (grown, or nothing to do), or -1 with "grow the rootfs on <device> ...: <reason>" in err,
 * also logged; the filesystem is then as it was or grown part way, and mounted either way. */
int grow_rootfs(const char *device, const char *mountpoint, char *err, size_t errlen);

#endif
