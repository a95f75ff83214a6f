/* The agent's filesystems: its own (/proc, /sys, /dev, ...) and the container rootfs. */
#ifndef BOXLITE_MOUNTS_H
#define BOXLITE_MOUNTS_H

#include <stdbool.h>

/* /proc first: the command line is read from it before anything else. Returns 0 or -1. */
int mounts_proc(void);
/* sysfs, devtmpfs, devpts (+ /dev/ptmx), tmpfs on /tmp and /run. Failures are logged. */
void mounts_system(void);
/* Mounts device (ext4, read-write) on /rootfs and the container's /proc, /sys, /dev,
 * /dev/pts and /dev/shm inside it. Returns 0, or -errno when the rootfs itself could not be
 * mounted (then nothing is). */
int mounts_rootfs(const char *device);
/* Best effort, innermost first; what cannot be unmounted is remounted read-only. */
void mounts_unmount_rootfs(void);
/* FIFREEZE (freeze) or FITHAW the rootfs: its writes are flushed and held. 0 or -errno. */
int mounts_freeze_rootfs(bool freeze);

#endif
