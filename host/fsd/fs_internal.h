/*
 * What the FUSE half's modules share: the server, one request's arguments as a cursor, and one
 * reply being built. Each op returns 0 or -errno and writes its reply body into `reply`.
 */
#ifndef BOXLITE_FSD_FS_INTERNAL_H
#define BOXLITE_FSD_FS_INTERNAL_H

#include <limits.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include "fs_server.h"
#include "handles.h"
#include "inodes.h"

/* What INIT offers: 1 MiB writes and reads (256 pages of 4 KiB). */
#define FS_MAX_WRITE (1u << 20)
#define FS_MAX_PAGES 256
/* A non-WRITE request is small (two names, or a name and a symlink target); anything bigger is refused. */
#define FS_IN_CAP (16u * 1024)
/* A reply other than READ's data: READDIR(PLUS) pages are the largest. */
#define FS_OUT_CAP (64u * 1024)
#define FS_IOV_MAX 1024

struct fs_server {
  int root_fd;
  bool read_only;
  char *only_name;
  bool initialized;
  struct inodes inodes;
  struct handles handles;
  uint8_t in_buf[FS_IN_CAP];
  uint8_t out_buf[FS_OUT_CAP];
  uint8_t dirents[FS_OUT_CAP];
  struct iovec data_iov[FS_IOV_MAX];
};

struct fs_request {
  const struct fuse_in_header *header;
  const uint8_t *arg; /* the unread rest of the arguments */
  size_t arg_len;
  /* The whole request as the transport gave it, for a WRITE's data. */
  const struct iovec *in;
  size_t in_count;
};

struct fs_reply {
  uint8_t *body;
  size_t len;
  size_t cap;
  /* READ writes its data straight into the transport's buffers after the header: */
  const struct iovec *out;
  size_t out_count;
};

/* The next n bytes of arguments, or NULL when the request is shorter. */
const void *request_take(struct fs_request *r, size_t n);
/* The next NUL-terminated name, checked to be one path component; 0 or -EINVAL/-ENAMETOOLONG. */
int request_name(struct fs_request *r, const char **name);
/* The next NUL-terminated string of 1 to `max` bytes (a symlink's target); 0 or -EINVAL/-ENAMETOOLONG. */
int request_string(struct fs_request *r, size_t max, const char **s);
/* The iovecs of `iov` past its first `skip` bytes, into rest (at most FS_IOV_MAX); their count. */
size_t iov_skip(const struct iovec *iov, size_t count, size_t skip, struct iovec rest[static FS_IOV_MAX]);
/* Appends n bytes to the reply body; -ERANGE when it does not fit. */
int reply_put(struct fs_reply *o, const void *bytes, size_t n);

/* The inode of a nodeid from the guest, or NULL: for its type. A pointer is only good until the
 * table next changes (an inode added may move them all); hold the nodeid instead. */
struct inode *fs_inode(struct fs_server *s, uint64_t nodeid);
/* The O_PATH descriptor of a nodeid from the guest (inodes_fd): valid until the request ends, or -ESTALE. */
int fs_fd(struct fs_server *s, uint64_t nodeid);
/* "/proc/self/fd/N": the way to reach the inode an O_PATH descriptor holds, without a path. */
void fs_proc_path(int fd, char path[static 32]);
/*
 * FUSE_HANDLE_KILLPRIV_V2: drops the set-id bits of fd's file as a local write, truncate or
 * O_TRUNC open by a caller without CAP_FSETID would (set-user-ID always, set-group-ID when
 * group-executable). The guest asks for it; fsd must do it itself, since it holds CAP_FSETID
 * when boxlite runs as root and the host kernel would then keep the bits.
 */
int fs_kill_suidgid(int fd);
/* The single-file share's root: nothing may be made, removed or renamed there. */
bool fs_is_locked_dir(const struct fs_server *s, uint64_t nodeid);
/* Looks `name` up below parent (never following it) and fills an entry; counts one lookup. */
int fs_lookup_entry(struct fs_server *s, uint64_t parent, const char *name, struct fuse_entry_out *entry);
/* Counts one more lookup of fd's inode, found as `name` in `parent` (0 and NULL: keep its recorded
 * name), taking fd, and fills an entry. */
int fs_entry_of_fd(struct fs_server *s, int fd, uint64_t parent, const char *name, struct fuse_entry_out *entry);
void fs_fill_attr(const struct stat *st, struct fuse_attr *attr);
/* virtiofsd's cache=auto: the guest trusts a name it found, and attributes it may cache, for a second. */
#define FS_TIMEOUT_S 1
/* A regular file's attributes, and a name found absent, are trusted this long (fs_entry.c). */
#define FS_FRESH_NSEC 10000000u
/* How long the guest may trust attributes of an inode of that mode it looked up: *sec and *nsec. */
void fs_attr_timeout(mode_t mode, uint64_t *sec, uint32_t *nsec);
/* An entry the box has just made: its attributes are its own, trusted FS_TIMEOUT_S. */
void fs_entry_made(struct fuse_entry_out *entry);
/* Strips what a box must never set on a host file: set-user-ID always, set-group-ID but on directories. */
mode_t fs_safe_mode(mode_t mode, bool directory);

/* One function per opcode (fs_entry.c, fs_attr.c, fs_io.c, fs_dir.c). */
typedef int fs_op(struct fs_server *s, struct fs_request *r, struct fs_reply *o);
fs_op op_lookup, op_forget, op_batch_forget, op_mknod, op_mkdir, op_symlink, op_link, op_unlink, op_rmdir, op_rename,
    op_rename2;
fs_op op_getattr, op_setattr, op_readlink, op_statfs;
fs_op op_open, op_create, op_read, op_write, op_flush, op_release, op_fsync, op_fallocate, op_lseek;
fs_op op_opendir, op_readdir, op_readdirplus;

#endif
