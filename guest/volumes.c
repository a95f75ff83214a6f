#include "volumes.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "idmap.h"
#include "kfile.h"
#include "log.h"
#include "user.h"

/* The kernel's ABI of the new mount API and openat2 (linux/mount.h, linux/openat2.h):
 * musl-gcc has no kernel headers and musl no wrappers (glibc, which the tests build with,
 * has some of both: hence the guards and our own names). */
struct mount_attr_abi {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
struct open_how_abi {
  uint64_t flags, mode, resolve;
};
#ifndef MOUNT_ATTR_RDONLY
#define MOUNT_ATTR_RDONLY 0x00000001
#define MOUNT_ATTR_NODEV 0x00000004
#define MOUNT_ATTR_IDMAP 0x00100000
#define OPEN_TREE_CLONE 1
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define MOVE_MOUNT_T_EMPTY_PATH 0x00000040
#endif
#define RESOLVE_NO_MAGICLINKS_ABI 0x02
#define RESOLVE_IN_ROOT_ABI 0x10

/* Each share is mounted here first, outside the container's root: the container sees only
 * the bind of it (or of its one file) at the volume's path. */
#define STAGING_DIR "/run/boxlite/volumes"

/* What is mounted, innermost last, so volumes_unmount can undo it in reverse. */
static char mounted[CONFIG_MOUNTS_MAX * 2][CONFIG_MOUNT_PATH_MAX + sizeof ROOTFS_DIR + 64];
static size_t mounted_count;

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

static void remember(const char *path) {
  snprintf(mounted[mounted_count], sizeof mounted[0], "%s", path);
  mounted_count++;
}

static int sys_open_tree(int dirfd, const char *path, unsigned flags) {
  return (int)syscall(SYS_open_tree, dirfd, path, flags);
}
static int sys_move_mount(int from_dirfd, const char *from, int to_dirfd, const char *to, unsigned flags) {
  return (int)syscall(SYS_move_mount, from_dirfd, from, to_dirfd, to, flags);
}
static int sys_mount_setattr(int dirfd, const char *path, unsigned flags, struct mount_attr_abi *attr) {
  return (int)syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof *attr);
}

/*
 * Opens (making what is missing) the volume's path inside the container's root, resolving
 * every part as the container would (RESOLVE_IN_ROOT): a symlink in the image cannot point
 * the mount outside the container. The last part is a directory, or an empty file for a
 * single-file volume.
 */
static int open_target(const char *path, bool file, char *err, size_t errlen) {
  int root = open(ROOTFS_DIR, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return fail(err, errlen, "open " ROOTFS_DIR ": %s", strerror(errno));
  char prefix[CONFIG_MOUNT_PATH_MAX + 1];
  int fd = -1;
  for (const char *end = path;;) {
    end = strchr(end + 1, '/');
    bool last = !end;
    size_t n = last ? strlen(path) : (size_t)(end - path);
    memcpy(prefix, path, n);
    prefix[n] = '\0';
    struct open_how_abi how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT_ABI | RESOLVE_NO_MAGICLINKS_ABI};
    fd = (int)syscall(SYS_openat2, root, prefix + 1, &how, sizeof how);
    if (fd < 0 && errno == ENOENT) {
      /* Made through the resolved parent, so a missing part is made inside the root too. */
      char name[CONFIG_MOUNT_PATH_MAX + 1];
      char *slash = strrchr(prefix, '/');
      snprintf(name, sizeof name, "%s", slash + 1);
      slash[1] = '\0';
      struct open_how_abi parent_how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                                    .resolve = RESOLVE_IN_ROOT_ABI | RESOLVE_NO_MAGICLINKS_ABI};
      int parent = (int)syscall(SYS_openat2, root, prefix[1] ? prefix + 1 : ".", &parent_how, sizeof parent_how);
      int made = -1;
      if (parent >= 0) {
        if (last && file) {
          made = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
          if (made >= 0) close(made);
        } else {
          made = mkdirat(parent, name, 0755);
        }
        if (made >= 0 || errno == EEXIST) fd = openat(parent, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        close(parent);
      }
      if (fd < 0) {
        int e = errno;
        close(root);
        return fail(err, errlen, "make %s in the box: %s", path, strerror(e));
      }
    } else if (fd < 0) {
      int e = errno;
      close(root);
      return fail(err, errlen, "open %s in the box: %s", path, strerror(e));
    }
    struct stat st;
    bool want_dir = !last || !file;
    if (fstat(fd, &st) < 0 || (want_dir ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))) {
      close(fd);
      close(root);
      return fail(err, errlen, "%s in the box is not a %s", prefix[0] ? path : "/", want_dir ? "directory" : "file");
    }
    if (last) break;
    close(fd);
  }
  close(root);
  return fd;
}

/* A user namespace holding the swap maps, as an fd (what MOUNT_ATTR_IDMAP takes). */
static int idmap_userns(uint32_t host_uid, uint32_t host_gid, uint32_t uid, uint32_t gid) {
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) return -1;
  pid_t child = fork();
  if (child < 0) {
    close(ready[0]);
    close(ready[1]);
    return -1;
  }
  if (child == 0) {
    /* The namespace only needs to exist while the parent maps it and opens it. */
    char byte = unshare(CLONE_NEWUSER) == 0 ? 1 : 0;
    if (write(ready[1], &byte, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  close(ready[1]);
  char byte = 0, path[64], map[IDMAP_TEXT_MAX];
  int fd = -1;
  if (read(ready[0], &byte, 1) == 1 && byte) {
    snprintf(path, sizeof path, "/proc/%d/uid_map", (int)child);
    idmap_swap(map, host_uid, uid);
    bool ok = kfile_write(path, map) == 0;
    snprintf(path, sizeof path, "/proc/%d/gid_map", (int)child);
    idmap_swap(map, host_gid, gid);
    ok = ok && kfile_write(path, map) == 0;
    snprintf(path, sizeof path, "/proc/%d/ns/user", (int)child);
    if (ok) fd = open(path, O_RDONLY | O_CLOEXEC);
  }
  int e = errno;
  close(ready[0]);
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  errno = e;
  return fd;
}

/* The share's tree (or its one file) as a detached mount with the volume's attributes. */
static int share_tree(const struct guest_mount *m, const char *staging, char *err, size_t errlen) {
  char source[sizeof mounted[0] + 2 * (CONFIG_FILE_NAME_MAX + 1)];
  snprintf(source, sizeof source, "%s%s%s%s%s", staging, m->subdir[0] ? "/" : "", m->subdir, m->file[0] ? "/" : "",
           m->file);
  int tree = sys_open_tree(AT_FDCWD, source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW);
  if (tree < 0) return fail(err, errlen, "volume %s: open_tree %s: %s", m->path, source, strerror(errno));
  struct user_ids ids;
  char why[256];
  if (user_resolve(m->user, ROOTFS_DIR "/etc/passwd", ROOTFS_DIR "/etc/group", &ids, why, sizeof why) < 0) {
    close(tree);
    return fail(err, errlen, "volume %s: %s", m->path, why);
  }
  struct mount_attr_abi attr = {.attr_set = MOUNT_ATTR_NODEV | (m->read_only ? MOUNT_ATTR_RDONLY : 0)};
  int userns = -1;
  if (ids.uid != m->host_uid || ids.gid != m->host_gid) {
    userns = idmap_userns(m->host_uid, m->host_gid, ids.uid, ids.gid);
    if (userns < 0) {
      int e = errno;
      close(tree);
      return fail(err, errlen, "volume %s: a user namespace for its id map: %s", m->path, strerror(e));
    }
    attr.attr_set |= MOUNT_ATTR_IDMAP;
    attr.userns_fd = (uint64_t)userns;
  }
  int rc = sys_mount_setattr(tree, "", AT_EMPTY_PATH, &attr);
  int e = errno;
  if (userns >= 0) close(userns);
  if (rc < 0) {
    close(tree);
    return fail(err, errlen, "volume %s: mount_setattr%s: %s", m->path, userns >= 0 ? " (id map)" : "", strerror(e));
  }
  return tree;
}

/* Whether an earlier mount of cfg (before index `upto`) has the same tag: a share holding
 * several volumes is mounted once. */
static bool tag_mounted(const struct guest_config *cfg, size_t upto) {
  for (size_t i = 0; i < upto; i++)
    if (!strcmp(cfg->mounts[i].tag, cfg->mounts[upto].tag)) return true;
  return false;
}

/* Whether every volume in the share with this tag is read-only. */
static bool share_read_only(const struct guest_config *cfg, const char *tag) {
  for (size_t i = 0; i < cfg->mount_count; i++)
    if (!strcmp(cfg->mounts[i].tag, tag) && !cfg->mounts[i].read_only) return false;
  return true;
}

static int mount_volume(const struct guest_config *cfg, size_t index, char *err, size_t errlen) {
  const struct guest_mount *m = &cfg->mounts[index];
  char staging[sizeof mounted[0]];
  snprintf(staging, sizeof staging, STAGING_DIR "/%s", m->tag);
  if (!tag_mounted(cfg, index)) {
    if (mkdir(staging, 0700) < 0 && errno != EEXIST) return fail(err, errlen, "mkdir %s: %s", staging, strerror(errno));
    /* A share of read-only volumes only is mounted read-only: root in the box cannot then
     * remount a read-only bind read-write over a writable share (the host refuses the writes
     * of a read-only volume anyway). */
    unsigned long flags = MS_NODEV | MS_NOSUID | (share_read_only(cfg, m->tag) ? MS_RDONLY : 0);
    if (mount(m->tag, staging, "virtiofs", flags, NULL) < 0)
      return fail(err, errlen, "volume %s: mount virtio-fs tag %s: %s", m->path, m->tag, strerror(errno));
    remember(staging);
  }
  int tree = share_tree(m, staging, err, errlen);
  if (tree < 0) return -1;
  int target = open_target(m->path, m->file[0] != '\0', err, errlen);
  if (target < 0) {
    close(tree);
    return -1;
  }
  int rc = sys_move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH);
  int e = errno;
  close(tree);
  close(target);
  if (rc < 0) return fail(err, errlen, "volume %s: move_mount: %s", m->path, strerror(e));
  char where[sizeof mounted[0]];
  snprintf(where, sizeof where, ROOTFS_DIR "%s", m->path);
  remember(where);
  return 0;
}

int volumes_mount(const struct guest_config *cfg, char *err, size_t errlen) {
  if (cfg->mount_count == 0) return 0;
  if (mkdir("/run/boxlite", 0700) < 0 && errno != EEXIST) return fail(err, errlen, "mkdir /run/boxlite: %s", strerror(errno));
  if (mkdir(STAGING_DIR, 0700) < 0 && errno != EEXIST)
    return fail(err, errlen, "mkdir " STAGING_DIR ": %s", strerror(errno));
  for (size_t i = 0; i < cfg->mount_count; i++) {
    if (mount_volume(cfg, i, err, errlen) < 0) {
      volumes_unmount();
      return -1;
    }
  }
  return 0;
}

void volumes_unmount(void) {
  while (mounted_count > 0) {
    const char *path = mounted[--mounted_count];
    /* Lazily: a command still inside a volume must not keep the box from powering off. */
    if (umount2(path, MNT_DETACH) < 0) log_errno("umount", path);
  }
}
