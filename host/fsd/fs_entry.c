/* Names in directories: lookup and forget, making, linking, removing and renaming entries. Every
 * name is one component resolved below its parent's descriptor, never following a symlink. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"

/*
 * A regular file's size and mtime are what the guest reads its data by (a read past the cached
 * size asks again; FUSE_AUTO_INVAL_DATA drops pages whose mtime moved), and a name found absent
 * is what a create or a poll for the host's file checks: both are trusted only FS_FRESH_NSEC,
 * so a host change is seen by the box's next look 10 ms later at most, and yet the lookups and
 * permission checks one syscall makes back to back (an untar's lstat, open, chown, chmod,
 * utime) do not each ask again: re-asking every time cost half an untar's requests. What the
 * box has just made or set itself it trusts for the second: a host change racing that is a
 * conflicting write anyway.
 */
void fs_attr_timeout(mode_t mode, uint64_t *sec, uint32_t *nsec) {
  *sec = S_ISREG(mode) ? 0 : FS_TIMEOUT_S;
  *nsec = S_ISREG(mode) ? FS_FRESH_NSEC : 0;
}

void fs_entry_made(struct fuse_entry_out *entry) {
  entry->attr_valid = FS_TIMEOUT_S;
  entry->attr_valid_nsec = 0;
}

void fs_fill_attr(const struct stat *st, struct fuse_attr *attr) {
  *attr = (struct fuse_attr){
      .ino = st->st_ino,
      .size = (uint64_t)st->st_size,
      .blocks = (uint64_t)st->st_blocks,
      .atime = (uint64_t)st->st_atim.tv_sec,
      .mtime = (uint64_t)st->st_mtim.tv_sec,
      .ctime = (uint64_t)st->st_ctim.tv_sec,
      .atimensec = (uint32_t)st->st_atim.tv_nsec,
      .mtimensec = (uint32_t)st->st_mtim.tv_nsec,
      .ctimensec = (uint32_t)st->st_ctim.tv_nsec,
      .mode = st->st_mode,
      .nlink = (uint32_t)st->st_nlink,
      .uid = st->st_uid,
      .gid = st->st_gid,
      .rdev = (uint32_t)st->st_rdev,
      .blksize = (uint32_t)st->st_blksize,
  };
}

int fs_entry_of_fd(struct fs_server *s, int fd, uint64_t parent, const char *name, struct fuse_entry_out *entry) {
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = -errno;
    close(fd);
    return e;
  }
  uint64_t nodeid;
  int e = inodes_add(&s->inodes, fd, &st, parent, name, &nodeid);
  if (e) return e;
  *entry = (struct fuse_entry_out){.nodeid = nodeid, .entry_valid = FS_TIMEOUT_S};
  fs_attr_timeout(st.st_mode, &entry->attr_valid, &entry->attr_valid_nsec);
  fs_fill_attr(&st, &entry->attr);
  return 0;
}

/*
 * A single-file share shows its one name only while the host keeps a regular file there: were
 * it replaced by a directory, the guest could walk the siblings' subtree below it; by a device,
 * it would be shown the host's device (and a symlink or fifo is no file to share either). It is
 * then absent (ENOENT), as every other name of that root is: the share holds no file by then.
 * Checked on the very descriptor the nodeid will hold, so a swap after the check changes nothing.
 */
static int only_file_check(const struct fs_server *s, uint64_t parent, int fd) {
  struct stat st;
  if (!fs_is_locked_dir(s, parent)) return 0;
  if (fstat(fd, &st) < 0) return -errno;
  return S_ISREG(st.st_mode) ? 0 : -ENOENT;
}

int fs_lookup_entry(struct fs_server *s, uint64_t parent, const char *name, struct fuse_entry_out *entry) {
  int dir = fs_fd(s, parent);
  if (dir < 0) return dir;
  int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return -errno;
  int e = only_file_check(s, parent, fd);
  if (e) {
    close(fd);
    return e;
  }
  return fs_entry_of_fd(s, fd, parent, name, entry);
}

/* The parent directory of a request, its descriptor and the name in it; a single-file share's root
 * only shows its file. */
static int parent_and_name(struct fs_server *s, struct fs_request *r, int *dir, const char **name) {
  if ((*dir = fs_fd(s, r->header->nodeid)) < 0) return *dir;
  int e = request_name(r, name);
  if (e) return e;
  if (fs_is_locked_dir(s, r->header->nodeid) && strcmp(*name, s->only_name)) return -ENOENT;
  return 0;
}

/* Requests that change the names in a directory: refused in a single-file share's root. */
static int changed_dir(struct fs_server *s, struct fs_request *r, int *dir, const char **name) {
  int e = parent_and_name(s, r, dir, name);
  if (e == -ENOENT || (!e && fs_is_locked_dir(s, r->header->nodeid))) return -EPERM;
  return e;
}

/* The entry of `name`; `made`: the box just made it (fs_entry_made). */
static int reply_entry(struct fs_server *s, uint64_t parent, const char *name, bool made, struct fs_reply *o) {
  struct fuse_entry_out entry;
  int e = fs_lookup_entry(s, parent, name, &entry);
  if (e) return e;
  if (made) fs_entry_made(&entry);
  return reply_put(o, &entry, sizeof entry);
}

int op_lookup(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  int dir;
  const char *name;
  int e = parent_and_name(s, r, &dir, &name);
  if (e) return e;
  e = reply_entry(s, r->header->nodeid, name, false, o);
  if (e != -ENOENT) return e;
  /* Absent: nodeid 0 is ENOENT the guest may keep for FS_FRESH_NSEC (fs_attr_timeout). */
  struct fuse_entry_out none = {.entry_valid_nsec = FS_FRESH_NSEC};
  return reply_put(o, &none, sizeof none);
}

/*
 * Drops n lookups of nodeid; once it is gone, so are the fhs still open for it. The kernel
 * releases every file before it forgets the inode, so only a guest that forgets too soon has
 * any: left open, one would pass for an fh of whichever inode the freed nodeid is given next.
 */
static void forget(struct fs_server *s, uint64_t nodeid, uint64_t n) {
  if (!fs_inode(s, nodeid)) return;
  inodes_forget(&s->inodes, nodeid, n);
  if (!fs_inode(s, nodeid)) handles_close_node(&s->handles, nodeid);
}

int op_forget(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_forget_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  forget(s, r->header->nodeid, in->nlookup);
  return 0;
}

int op_batch_forget(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_batch_forget_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  for (uint32_t i = 0; i < in->count; i++) {
    const struct fuse_forget_one *one = request_take(r, sizeof *one);
    if (!one) return -EINVAL;
    forget(s, one->nodeid, one->nlookup);
  }
  return 0;
}

int op_mknod(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_mknod_in *in = request_take(r, sizeof *in);
  int dir;
  const char *name;
  if (!in) return -EINVAL;
  int e = changed_dir(s, r, &dir, &name);
  if (e) return e;
  /* A device made in the box would be a usable device on the host. */
  if (!S_ISREG(in->mode) && !S_ISFIFO(in->mode) && !S_ISSOCK(in->mode)) return -EPERM;
  if (mknodat(dir, name, (in->mode & S_IFMT) | fs_safe_mode(in->mode, false), 0) < 0) return -errno;
  return reply_entry(s, r->header->nodeid, name, true, o);
}

int op_mkdir(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_mkdir_in *in = request_take(r, sizeof *in);
  int dir;
  const char *name;
  if (!in) return -EINVAL;
  int e = changed_dir(s, r, &dir, &name);
  if (e) return e;
  if (mkdirat(dir, name, fs_safe_mode(in->mode, true)) < 0) return -errno;
  return reply_entry(s, r->header->nodeid, name, true, o);
}

int op_symlink(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  int dir;
  const char *name, *target;
  int e = changed_dir(s, r, &dir, &name);
  if (!e) e = request_string(r, PATH_MAX - 1, &target);
  if (e) return e;
  if (symlinkat(target, dir, name) < 0) return -errno;
  return reply_entry(s, r->header->nodeid, name, true, o);
}

int op_link(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  const struct fuse_link_in *in = request_take(r, sizeof *in);
  int dir, old;
  const char *name;
  if (!in) return -EINVAL;
  int e = changed_dir(s, r, &dir, &name);
  if (e) return e;
  if ((old = fs_fd(s, in->oldnodeid)) < 0) return old;
  /* Through /proc: links exactly the inode held (a symlink itself, never its target), without
   * the CAP_DAC_READ_SEARCH that linkat's AT_EMPTY_PATH wants. */
  char proc[32];
  fs_proc_path(old, proc);
  if (linkat(AT_FDCWD, proc, dir, name, AT_SYMLINK_FOLLOW) < 0) return -errno;
  int fd = fcntl(old, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return -errno;
  struct fuse_entry_out entry;
  /* The inode keeps the name it is recorded under: one name is enough to find it again. */
  e = fs_entry_of_fd(s, fd, 0, NULL, &entry);
  if (e) return e;
  fs_entry_made(&entry);
  return reply_put(o, &entry, sizeof entry);
}

/*
 * The known inode recorded under `name` in dir, its descriptor taken first: once the name is
 * removed or replaced the inode can no longer be re-opened by it, so it must be held. 0 for none.
 */
static uint64_t held_named(struct fs_server *s, uint64_t dir, const char *name) {
  uint64_t nodeid = inodes_named(&s->inodes, dir, name);
  return nodeid && inodes_fd(&s->inodes, nodeid) >= 0 ? nodeid : 0;
}

static int remove_entry(struct fs_server *s, struct fs_request *r, int flags) {
  int dir;
  const char *name;
  int e = changed_dir(s, r, &dir, &name);
  if (e) return e;
  uint64_t gone = held_named(s, r->header->nodeid, name);
  if (unlinkat(dir, name, flags) < 0) return -errno;
  if (gone) inodes_unnamed(&s->inodes, gone);
  return 0;
}

int op_unlink(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  return remove_entry(s, r, 0);
}

int op_rmdir(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  return remove_entry(s, r, AT_REMOVEDIR);
}

static int rename_entry(struct fs_server *s, struct fs_request *r, uint64_t newdir, unsigned flags) {
  int dir, new_dir;
  const char *name, *new_name;
  if (flags & ~(unsigned)(RENAME_NOREPLACE | RENAME_EXCHANGE)) return -EINVAL;
  int e = changed_dir(s, r, &dir, &name);
  if (e) return e;
  if ((new_dir = fs_fd(s, newdir)) < 0) return new_dir;
  if ((e = request_name(r, &new_name))) return e;
  if (fs_is_locked_dir(s, newdir)) return -EPERM;
  uint64_t olddir = r->header->nodeid;
  uint64_t moved = held_named(s, olddir, name), replaced = held_named(s, newdir, new_name);
  if (renameat2(dir, name, new_dir, new_name, flags) < 0) return -errno;
  /* Hard links of one inode: rename leaves both names as they were. */
  if (moved == replaced) return 0;
  if (moved) inodes_moved(&s->inodes, moved, newdir, new_name);
  if (replaced && (flags & RENAME_EXCHANGE)) inodes_moved(&s->inodes, replaced, olddir, name);
  else if (replaced) inodes_unnamed(&s->inodes, replaced);
  return 0;
}
int op_rename(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_rename_in *in = request_take(r, sizeof *in);
  return in ? rename_entry(s, r, in->newdir, 0) : -EINVAL;
}

int op_rename2(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)o;
  const struct fuse_rename2_in *in = request_take(r, sizeof *in);
  return in ? rename_entry(s, r, in->newdir, in->flags) : -EINVAL;
}
