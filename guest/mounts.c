#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "volumes.h"

/* linux/fs.h, which musl's headers lack. */
#ifndef FIFREEZE
#define FIFREEZE _IOWR('X', 119, int)
#define FITHAW _IOWR('X', 120, int)
#endif

/* Whether path is already a mount point (another device than its parent's). */
static bool is_mount_point(const char *path) {
  char parent[256];
  struct stat a, b;
  snprintf(parent, sizeof parent, "%s/..", path);
  return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int mount_at(const char *source, const char *target, const char *type, unsigned long flags,
                    const char *data) {
  /* The system disk is read-only and has the mount points; the rootfs may lack them. */
  if (mkdir(target, 0755) < 0 && errno != EEXIST && errno != EROFS) log_errno("mkdir", target);
  /* The kernel mounts devtmpfs on /dev itself (CONFIG_DEVTMPFS_MOUNT); do not stack another. */
  if (!(flags & MS_BIND) && is_mount_point(target)) return 0;
  if (mount(source, target, type, flags, data) < 0) {
    log_errno("mount", target);
    return -1;
  }
  return 0;
}

int mounts_proc(void) { return mount_at("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL); }

void mounts_system(void) {
  mount_at("sysfs", "/sys", "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_at("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
  /* A private devpts instance; gid 5 is "tty" in the usual /etc/group. */
  mount_at("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5");
  /* devtmpfs provides /dev/ptmx, which (Linux >= 4.7) opens the devpts mounted at the
   * sibling "pts". Without it, point /dev/ptmx at this instance's ptmx. */
  struct stat st;
  if (lstat("/dev/ptmx", &st) < 0 && symlink("pts/ptmx", "/dev/ptmx") < 0) log_errno("symlink", "/dev/ptmx");
  mount_at("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
  mount_at("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
}

/* virtio-blk devices are normally probed before init runs; allow a short wait anyway. */
static void wait_for_device(const char *device) {
  struct timespec tick = {0, 10 * 1000 * 1000};
  struct stat st;
  for (int i = 0; i < 200 && stat(device, &st) < 0; i++) nanosleep(&tick, NULL);
}

/* The container's /dev: docker's default set of devices on a tmpfs. Not devtmpfs, which
 * would hand every process in the box the raw disks and the agent's channel. */
static void mount_container_dev(void) {
  static const struct { const char *name; unsigned major, minor; } devices[] = {
      {"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
  };
  static const struct { const char *name, *target; } links[] = {
      {"ptmx", "pts/ptmx"}, {"fd", "/proc/self/fd"}, {"stdin", "/proc/self/fd/0"},
      {"stdout", "/proc/self/fd/1"}, {"stderr", "/proc/self/fd/2"},
  };
  char path[256];
  if (mount_at("tmpfs", ROOTFS_DIR "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=65536k") < 0) return;
  for (size_t i = 0; i < sizeof devices / sizeof devices[0]; i++) {
    snprintf(path, sizeof path, ROOTFS_DIR "/dev/%s", devices[i].name);
    if (mknod(path, S_IFCHR | 0666, makedev(devices[i].major, devices[i].minor)) < 0) log_errno("mknod", path);
    else if (chmod(path, 0666) < 0) log_errno("chmod", path); /* mknod's mode is masked by the umask */
  }
  for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
    snprintf(path, sizeof path, ROOTFS_DIR "/dev/%s", links[i].name);
    if (symlink(links[i].target, path) < 0) log_errno("symlink", path);
  }
  mount_at("/dev/pts", ROOTFS_DIR "/dev/pts", NULL, MS_BIND, NULL);
  mount_at("tmpfs", ROOTFS_DIR "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
}

/* Read ahead 1 MiB on the box's disk, not the kernel's 128 KiB: under TCG a request costs far
 * more than its bytes, and a command's first run pages its binary in from this disk — the first
 * `true` of busybox took 24 requests and 8-14 ms of reading, 11 and 3-4 ms so. BLKRASET, not sysfs's
 * read_ahead_kb, whose write waits for the queue to freeze (~10 ms at boot). */
#define ROOTFS_READAHEAD_SECTORS (1024 * 1024 / 512)

static void read_ahead_more(const char *device) {
  int fd = open(device, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (ioctl(fd, BLKRASET, (unsigned long)ROOTFS_READAHEAD_SECTORS) < 0) log_errno("ioctl(BLKRASET)", device);
  close(fd);
}

int mounts_rootfs(const char *device) {
  wait_for_device(device);
  read_ahead_more(device);
  if (mount(device, ROOTFS_DIR, "ext4", 0, NULL) < 0) {
    int e = errno;
    log_errno("mount", ROOTFS_DIR);
    return -e;
  }
  /* Read-only, as docker's: a writable sysfs would let a box root unbind the agent's channel or
   * its disks. /proc is the box init's own (boxns.c), once this /dev has its null. */
  mkdir(ROOTFS_DIR "/proc", 0555);
  mount_at("sysfs", ROOTFS_DIR "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
  mount_container_dev();
  return 0;
}

void mounts_unmount_rootfs(void) {
  volumes_unmount();
  static const char *const inner_first[] = {
      ROOTFS_DIR "/dev/shm", ROOTFS_DIR "/dev/pts", ROOTFS_DIR "/dev", ROOTFS_DIR "/sys", ROOTFS_DIR "/proc",
  };
  /* The box's /proc has docker's read-only and masked paths mounted on it. */
  for (size_t i = 0; i < sizeof inner_first / sizeof inner_first[0]; i++)
    if (umount2(inner_first[i], MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT) log_errno("umount", inner_first[i]);
  if (umount2(ROOTFS_DIR, 0) == 0 || errno == EINVAL) return;
  log_errno("umount", ROOTFS_DIR);
  if (mount(NULL, ROOTFS_DIR, NULL, MS_REMOUNT | MS_RDONLY, NULL) < 0) log_errno("remount read-only", ROOTFS_DIR);
}

int mounts_freeze_rootfs(bool freeze) {
  int fd = open(ROOTFS_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -errno;
  int rc = ioctl(fd, freeze ? FIFREEZE : FITHAW, 0) < 0 ? -errno : 0;
  close(fd);
  return rc;
}
