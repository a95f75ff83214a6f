/* Attributes: getattr and setattr, readlink, statfs. An inode is reached through its O_PATH
 * descriptor (or /proc/self/fd/N for what O_PATH cannot do), never through a path in the share. */
#include <errno.h>
#include <fcntl.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "fs_internal.h"

/* `set`: the box has just set them itself, so they are trusted FS_TIMEOUT_S (fs_attr_timeout). */
static int reply_attr(int fd, bool set, struct fs_reply *o) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  struct fuse_attr_out out = {.attr_valid = FS_TIMEOUT_S};
  if (!set) fs_attr_timeout(st.st_mode, &out.attr_valid, &out.attr_valid_nsec);
  fs_fill_attr(&st, &out.attr);
  return reply_put(o, &out, sizeof out);
}

int op_getattr(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  int fd = fs_fd(s, r->header->nodeid);
  return fd < 0 ? fd : reply_attr(fd, false, o);
}

static struct timespec time_of(uint32_t valid, uint32_t set, uint32_t now, uint64_t sec, uint32_t nsec) {
  if (!(valid & set)) return (struct timespec){.tv_nsec = UTIME_OMIT};
  if (valid & now) return (struct timespec){.tv_nsec = UTIME_NOW};
  return (struct timespec){.tv_sec = (time_t)sec, .tv_nsec = nsec};
}

/* A time the request sets to a value of its own (not "now") whose nanoseconds are out of range:
 * utimensat would refuse it, or take the values of UTIME_NOW and UTIME_OMIT as those commands. */
static bool bad_nsec(uint32_t valid, uint32_t set, uint32_t now, uint32_t nsec) {
  return (valid & set) && !(valid & now) && nsec >= 1000000000u;
}

/*
 * What a SETATTR is refused for without trying it, checked before anything is changed: the
 * request is applied a part at a time, and a refused one must leave the file as it was. A
 * FATTR_FH names an fh open for the request's own nodeid: another file's fh would truncate that
 * file, not the one the request names (EBADF, as for every op that takes an fh). That fh's
 * descriptor in *fh_fd, else -1.
 */
static int setattr_refused(struct fs_server *s, mode_t type, uint64_t nodeid,
                           const struct fuse_setattr_in *in, int *fh_fd) {
  /* Linux symlinks have no mode of their own (lchmod is EOPNOTSUPP too). */
  if ((in->valid & FATTR_MODE) && S_ISLNK(type)) return -EOPNOTSUPP;
  if (bad_nsec(in->valid, FATTR_ATIME, FATTR_ATIME_NOW, in->atimensec) ||
      bad_nsec(in->valid, FATTR_MTIME, FATTR_MTIME_NOW, in->mtimensec))
    return -EINVAL;
  *fh_fd = -1;
  if (!(in->valid & FATTR_SIZE)) return 0;
  if (S_ISDIR(type)) return -EISDIR;
  if (!S_ISREG(type)) return -EINVAL;
  if (in->size > INT64_MAX) return -EFBIG;
  if (!(in->valid & FATTR_FH)) return 0;
  *fh_fd = handles_get(&s->handles, in->fh, nodeid);
  return *fh_fd < 0 ? *fh_fd : 0;
}

static int set_size(const struct fuse_setattr_in *in, int fh_fd, const char *proc) {
  int e = fh_fd >= 0 ? ftruncate(fh_fd, (off_t)in->size) : truncate(proc, (off_t)in->size);
  return e < 0 ? -errno : 0;
}

int op_setattr(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_setattr_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = fs_fd(s, r->header->nodeid);
  if (fd < 0) return fd;
  mode_t type = fs_inode(s, r->header->nodeid)->type;
  if (fs_is_locked_dir(s, r->header->nodeid)) return -EPERM;
  int fh_fd, e = setattr_refused(s, type, r->header->nodeid, in, &fh_fd);
  if (e) return e;
  char proc[32];
  fs_proc_path(fd, proc);
  if ((in->valid & FATTR_MODE) && fchmodat(AT_FDCWD, proc, fs_safe_mode(in->mode, S_ISDIR(type)), 0) < 0) return -errno;
  if (in->valid & (FATTR_UID | FATTR_GID)) {
    uid_t uid = in->valid & FATTR_UID ? in->uid : (uid_t)-1;
    gid_t gid = in->valid & FATTR_GID ? in->gid : (gid_t)-1;
    if (fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0) return -errno;
  }
  /* A truncate by a caller without CAP_FSETID (fs_kill_suidgid); a mode given says it all. */
  if ((in->valid & FATTR_KILL_SUIDGID) && !(in->valid & FATTR_MODE) && (e = fs_kill_suidgid(fd))) return e;
  if ((in->valid & FATTR_SIZE) && (e = set_size(in, fh_fd, proc))) return e;
  if (in->valid & (FATTR_ATIME | FATTR_MTIME)) {
    struct timespec times[2] = {
        time_of(in->valid, FATTR_ATIME, FATTR_ATIME_NOW, in->atime, in->atimensec),
        time_of(in->valid, FATTR_MTIME, FATTR_MTIME_NOW, in->mtime, in->mtimensec),
    };
    e = S_ISLNK(type) ? utimensat(fd, "", times, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) : utimensat(AT_FDCWD, proc, times, 0);
    if (e < 0) return -errno;
  }
  return reply_attr(fd, true, o);
}

int op_readlink(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  int fd = fs_fd(s, r->header->nodeid);
  if (fd < 0) return fd;
  if (!S_ISLNK(fs_inode(s, r->header->nodeid)->type)) return -EINVAL;
  size_t room = o->cap - o->len < PATH_MAX ? o->cap - o->len : PATH_MAX;
  ssize_t n = readlinkat(fd, "", (char *)o->body + o->len, room);
  if (n < 0) return -errno;
  if ((size_t)n == room) return -ENAMETOOLONG;
  o->len += (size_t)n;
  return 0;
}

int op_statfs(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  int fd = fs_fd(s, r->header->nodeid);
  struct statfs st;
  if (fstatfs(fd >= 0 ? fd : s->root_fd, &st) < 0) return -errno;
  struct fuse_statfs_out out = {.st = {
                                    .blocks = st.f_blocks,
                                    .bfree = st.f_bfree,
                                    .bavail = st.f_bavail,
                                    .files = st.f_files,
                                    .ffree = st.f_ffree,
                                    .bsize = (uint32_t)st.f_bsize,
                                    .namelen = (uint32_t)st.f_namelen,
                                    .frsize = (uint32_t)st.f_frsize,
                                }};
  return reply_put(o, &out, sizeof out);
}
