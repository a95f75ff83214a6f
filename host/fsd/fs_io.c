/* Open files: open and create, read and write, flush, release, fsync, fallocate, lseek. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "fs_internal.h"

/* The open flags a guest may pass on: access mode, append, truncate and sync. Others (O_CREAT,
 * O_EXCL, O_NOCTTY, O_PATH, O_TMPFILE...) are the server's to choose. */
#define PASSED_FLAGS (O_ACCMODE | O_APPEND | O_TRUNC | O_SYNC | O_DSYNC | O_NONBLOCK)

static bool wants_write(uint32_t flags) { return (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC); }

/*
 * Opens the inode path_fd holds for I/O. Only regular files and directories: a symlink would be
 * followed by the open, and a device node found in the share must never become a device the box
 * can use.
 */
static int open_inode(struct fs_server *s, int path_fd, mode_t type, int flags) {
  if (S_ISLNK(type)) return -ELOOP;
  if (!S_ISREG(type) && !S_ISDIR(type)) return -EACCES;
  if (s->read_only && wants_write((uint32_t)flags)) return -EROFS;
  char proc[32];
  fs_proc_path(path_fd, proc);
  int fd = open(proc, (flags & PASSED_FLAGS) | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* fsd writes through: a close has nothing left to flush, so the guest sends no FLUSH (a request per close saved). */
#define OPEN_FLAGS FOPEN_NOFLUSH

static int reply_open(struct fs_server *s, int fd, uint64_t nodeid, struct fs_reply *o) {
  struct fuse_open_out out = {.open_flags = OPEN_FLAGS};
  int e = handles_add(&s->handles, fd, nodeid, &out.fh);
  return e ? e : reply_put(o, &out, sizeof out);
}

int op_open(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_open_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int path_fd = fs_fd(s, r->header->nodeid);
  if (path_fd < 0) return path_fd;
  mode_t type = fs_inode(s, r->header->nodeid)->type;
  if (S_ISDIR(type)) return -EISDIR;
  int fd = open_inode(s, path_fd, type, (int)in->flags);
  if (fd < 0) return fd;
  int e = in->open_flags & FUSE_OPEN_KILL_SUIDGID ? fs_kill_suidgid(fd) : 0;
  if (e) {
    close(fd);
    return e;
  }
  return reply_open(s, fd, r->header->nodeid, o);
}

int op_opendir(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  int path_fd = fs_fd(s, r->header->nodeid);
  if (path_fd < 0) return path_fd;
  mode_t type = fs_inode(s, r->header->nodeid)->type;
  if (!S_ISDIR(type)) return -ENOTDIR;
  int fd = open_inode(s, path_fd, type, O_RDONLY);
  return fd < 0 ? fd : reply_open(s, fd, r->header->nodeid, o);
}

/*
 * The file CREATE names, opened for I/O, and its O_PATH descriptor in *path_fd. Made with O_EXCL
 * and O_NOFOLLOW, so a symlink under the name (swapped in meanwhile, too) is never followed; a
 * name that exists already is opened as OPEN would, so an existing fifo or device is refused,
 * never opened.
 */
static int create_file(struct fs_server *s, int dir, const char *name, const struct fuse_create_in *in, int *path_fd) {
  int flags = (int)(in->flags & PASSED_FLAGS);
  int fd = openat(dir, name, flags | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fs_safe_mode(in->mode, false));
  if (fd >= 0) {
    char proc[32];
    fs_proc_path(fd, proc);
    if ((*path_fd = open(proc, O_PATH | O_CLOEXEC)) >= 0) return fd;
    int e = -errno;
    close(fd);
    return e;
  }
  if (errno != EEXIST || (in->flags & O_EXCL)) return -errno;
  if ((*path_fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)) < 0) return -errno;
  struct stat st;
  if (fstat(*path_fd, &st) < 0) fd = -errno;
  else if (S_ISDIR(st.st_mode)) fd = -EISDIR;
  else fd = open_inode(s, *path_fd, st.st_mode & S_IFMT, flags);
  if (fd < 0) close(*path_fd);
  return fd;
}

int op_create(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_create_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int dir = fs_fd(s, r->header->nodeid);
  const char *name;
  if (dir < 0) return dir;
  int e = request_name(r, &name);
  if (e) return e;
  if (fs_is_locked_dir(s, r->header->nodeid)) return -EPERM;
  int path_fd = -1, fd = create_file(s, dir, name, in, &path_fd);
  if (fd < 0) return fd;
  struct fuse_entry_out entry;
  if ((e = fs_entry_of_fd(s, path_fd, r->header->nodeid, name, &entry))) {
    close(fd);
    return e;
  }
  fs_entry_made(&entry);
  struct fuse_open_out open_out = {.open_flags = OPEN_FLAGS};
  if ((e = handles_add(&s->handles, fd, entry.nodeid, &open_out.fh))) {
    inodes_forget(&s->inodes, entry.nodeid, 1);
    return e;
  }
  reply_put(o, &entry, sizeof entry);
  return reply_put(o, &open_out, sizeof open_out);
}

static int file_of(struct fs_server *s, const struct fs_request *r, uint64_t fh, uint64_t offset) {
  if (offset > INT64_MAX) return -EINVAL;
  return handles_get(&s->handles, fh, r->header->nodeid);
}

int op_read(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_read_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = file_of(s, r, in->fh, in->offset);
  if (fd < 0) return fd;
  size_t n = iov_skip(o->out, o->out_count, sizeof(struct fuse_out_header), s->data_iov);
  size_t want = in->size < FS_MAX_WRITE ? in->size : FS_MAX_WRITE;
  /* Trim the buffers to what was asked (and what fits). */
  size_t total = 0, count = 0;
  for (; count < n && total < want; count++) {
    if (s->data_iov[count].iov_len > want - total) s->data_iov[count].iov_len = want - total;
    total += s->data_iov[count].iov_len;
  }
  ssize_t got = count ? preadv(fd, s->data_iov, (int)count, (off_t)in->offset) : 0;
  if (got < 0) return -errno;
  o->body = NULL;
  o->len = (size_t)got;
  return 0;
}

int op_write(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_write_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = file_of(s, r, in->fh, in->offset), e;
  if (fd < 0) return fd;
  size_t skip = sizeof(struct fuse_in_header) + sizeof *in;
  if (in->size > FS_MAX_WRITE || in->size != r->header->len - skip) return -EINVAL;
  if ((in->write_flags & FUSE_WRITE_KILL_SUIDGID) && (e = fs_kill_suidgid(fd))) return e;
  size_t n = iov_skip(r->in, r->in_count, skip, s->data_iov);
  /* pwritev on an O_APPEND descriptor appends whatever the offset, as a local write would. */
  ssize_t done = in->size ? pwritev(fd, s->data_iov, (int)n, (off_t)in->offset) : 0;
  if (done < 0) return -errno;
  struct fuse_write_out out = {.size = (uint32_t)done};
  return reply_put(o, &out, sizeof out);
}

int op_flush(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_flush_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = handles_get(&s->handles, in->fh, r->header->nodeid);
  return fd < 0 ? fd : 0;
}

int op_release(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_release_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  /* Another nodeid's fh is refused (EBADF) as by every op that takes one, not closed: the
   * kernel releases a file with the nodeid it opened it for, so only a guest that means to
   * close what it does not name sends another. */
  int fd = handles_get(&s->handles, in->fh, r->header->nodeid);
  return fd < 0 ? fd : handles_close(&s->handles, in->fh);
}

int op_fsync(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_fsync_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = handles_get(&s->handles, in->fh, r->header->nodeid);
  if (fd < 0) return fd;
  int e = (in->fsync_flags & FUSE_FSYNC_FDATASYNC) ? fdatasync(fd) : fsync(fd);
  return e < 0 ? -errno : 0;
}

int op_fallocate(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_fallocate_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = file_of(s, r, in->fh, in->offset);
  if (fd < 0) return fd;
  if (in->length > INT64_MAX) return -EINVAL;
  return fallocate(fd, (int)in->mode, (off_t)in->offset, (off_t)in->length) < 0 ? -errno : 0;
}

int op_lseek(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_lseek_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  int fd = file_of(s, r, in->fh, in->offset);
  if (fd < 0) return fd;
  if (in->whence != SEEK_DATA && in->whence != SEEK_HOLE) return -EINVAL;
  off_t at = lseek(fd, (off_t)in->offset, (int)in->whence);
  if (at < 0) return -errno;
  struct fuse_lseek_out out = {.offset = (uint64_t)at};
  return reply_put(o, &out, sizeof out);
}
