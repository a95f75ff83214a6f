/* Request framing, INIT and the opcode table; the ops themselves are in fs_entry.c, fs_attr.c,
 * fs_io.c and fs_dir.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "fs_internal.h"

/* Not in the 7.38 header: the kernel may mount this share idmapped (flags2 bit 8, 7.40). */
#ifndef FUSE_ALLOW_IDMAP
#define FUSE_ALLOW_IDMAP (1ull << 40)
#endif
#define FS_MINOR 38

/* Descriptors left for the transport's sockets and eventfds; half the rest go to inodes, the
 * other half to the files the guest opens. */
#define FDS_RESERVED 256
#define INODE_FDS_MIN 64
#define INODE_FDS_MAX 100000

enum { NO_REPLY = 1, MODIFIES = 2 };

struct op_entry {
  fs_op *run;
  unsigned flags;
};

static const struct op_entry OPS[] = {
    [FUSE_LOOKUP] = {op_lookup, 0},
    [FUSE_FORGET] = {op_forget, NO_REPLY},
    [FUSE_BATCH_FORGET] = {op_batch_forget, NO_REPLY},
    [FUSE_GETATTR] = {op_getattr, 0},
    [FUSE_SETATTR] = {op_setattr, MODIFIES},
    [FUSE_READLINK] = {op_readlink, 0},
    [FUSE_SYMLINK] = {op_symlink, MODIFIES},
    [FUSE_MKNOD] = {op_mknod, MODIFIES},
    [FUSE_MKDIR] = {op_mkdir, MODIFIES},
    [FUSE_UNLINK] = {op_unlink, MODIFIES},
    [FUSE_RMDIR] = {op_rmdir, MODIFIES},
    [FUSE_RENAME] = {op_rename, MODIFIES},
    [FUSE_RENAME2] = {op_rename2, MODIFIES},
    [FUSE_LINK] = {op_link, MODIFIES},
    [FUSE_OPEN] = {op_open, 0}, /* refuses write access itself on a read-only share */
    [FUSE_CREATE] = {op_create, MODIFIES},
    [FUSE_READ] = {op_read, 0},
    [FUSE_WRITE] = {op_write, MODIFIES},
    [FUSE_FLUSH] = {op_flush, 0},
    [FUSE_RELEASE] = {op_release, 0},
    [FUSE_FSYNC] = {op_fsync, 0},
    [FUSE_FSYNCDIR] = {op_fsync, 0},
    [FUSE_OPENDIR] = {op_opendir, 0},
    [FUSE_READDIR] = {op_readdir, 0},
    [FUSE_READDIRPLUS] = {op_readdirplus, 0},
    [FUSE_RELEASEDIR] = {op_release, 0},
    [FUSE_STATFS] = {op_statfs, 0},
    [FUSE_FALLOCATE] = {op_fallocate, MODIFIES},
    [FUSE_LSEEK] = {op_lseek, 0},
};

void fs_raise_nofile(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

unsigned fs_inode_fds_budget(size_t servers) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) return INODE_FDS_MAX;
  rlim_t n = rl.rlim_cur > FDS_RESERVED ? (rl.rlim_cur - FDS_RESERVED) / 2 / (servers ? servers : 1) : 0;
  return n < INODE_FDS_MIN ? INODE_FDS_MIN : n > INODE_FDS_MAX ? INODE_FDS_MAX : (unsigned)n;
}

struct fs_server *fs_server_new(const struct fs_options *options, char *why, size_t whylen) {
  if (options->only_name) {
    const char *n = options->only_name;
    if (!*n || strchr(n, '/') || !strcmp(n, ".") || !strcmp(n, "..") || strlen(n) > NAME_MAX) {
      snprintf(why, whylen, "file=%s: not a single file name", n);
      return NULL;
    }
  }
  int fd = open(options->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  struct stat st;
  if (fd < 0 || fstat(fd, &st) < 0) {
    snprintf(why, whylen, "open(%s): %s", options->root, strerror(errno));
    if (fd >= 0) close(fd);
    return NULL;
  }
  struct fs_server *s = calloc(1, sizeof *s);
  if (!s || (options->only_name && !(s->only_name = strdup(options->only_name))) || inodes_init(&s->inodes, fd, &st, options->max_inode_fds ? options->max_inode_fds : fs_inode_fds_budget(1)) < 0) {
    snprintf(why, whylen, "out of memory");
    if (s) free(s->only_name);
    free(s);
    close(fd);
    return NULL;
  }
  s->root_fd = fd;
  s->read_only = options->read_only;
  return s;
}

void fs_server_free(struct fs_server *s) {
  if (!s) return;
  handles_free(&s->handles);
  inodes_free(&s->inodes); /* closes root_fd, nodeid 1 */
  free(s->only_name);
  free(s);
}

static int op_init(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  /* Kernels before 7.36 send the 16-byte fuse_init_in, without flags2. */
  const struct fuse_init_in *in = request_take(r, offsetof(struct fuse_init_in, flags2));
  if (!in) return -EINVAL;
  struct fuse_init_out out = {.major = FUSE_KERNEL_VERSION, .minor = FS_MINOR};
  /* A newer major: answer ours alone and the kernel asks again in it. */
  if (in->major != FUSE_KERNEL_VERSION) return in->major < FUSE_KERNEL_VERSION ? -EPROTO : reply_put(o, &out, sizeof out);
  uint64_t offered = in->flags;
  if ((in->flags & FUSE_INIT_EXT) && r->arg_len >= sizeof(uint32_t)) offered |= (uint64_t)in->flags2 << 32;
  uint64_t wanted = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_DO_READDIRPLUS | FUSE_READDIRPLUS_AUTO | FUSE_AUTO_INVAL_DATA |
                    FUSE_PARALLEL_DIROPS | FUSE_MAX_PAGES | FUSE_INIT_EXT | FUSE_ALLOW_IDMAP |
                    FUSE_HANDLE_KILLPRIV_V2;
  uint64_t flags = offered & wanted;
  out.minor = in->minor < FS_MINOR ? in->minor : FS_MINOR;
  out.max_readahead = in->max_readahead;
  out.flags = (uint32_t)flags;
  out.flags2 = (uint32_t)(flags >> 32);
  out.max_background = 64;
  out.congestion_threshold = 48;
  out.max_write = FS_MAX_WRITE;
  out.time_gran = 1;
  out.max_pages = FS_MAX_PAGES;
  s->initialized = true;
  return reply_put(o, &out, sizeof out);
}

static int op_destroy(struct fs_server *s, struct fs_request *r, struct fs_reply *o) {
  (void)r;
  (void)o;
  handles_free(&s->handles);
  s->initialized = false;
  return 0;
}

/* Copies up to `cap` bytes of the request from `in` into buf; the request's total length. */
static size_t gather(const struct iovec *in, size_t in_count, uint8_t *buf, size_t cap) {
  size_t total = 0;
  for (size_t i = 0; i < in_count; i++) {
    if (total < cap) {
      size_t n = in[i].iov_len < cap - total ? in[i].iov_len : cap - total;
      memcpy(buf + total, in[i].iov_base, n);
    }
    total += in[i].iov_len;
  }
  return total;
}

/* Copies the reply (header, then body unless READ put its data there already) into `out`. */
static size_t scatter(const struct iovec *out, size_t out_count, const void *bytes, size_t len) {
  size_t done = 0;
  for (size_t i = 0; i < out_count && done < len; i++) {
    size_t n = out[i].iov_len < len - done ? out[i].iov_len : len - done;
    memcpy(out[i].iov_base, (const uint8_t *)bytes + done, n);
    done += n;
  }
  return done;
}

static size_t iov_total(const struct iovec *iov, size_t count) {
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += iov[i].iov_len;
  return total;
}

bool fs_is_forget(uint32_t opcode) { return opcode == FUSE_FORGET || opcode == FUSE_BATCH_FORGET; }

static int dispatch(struct fs_server *s, const struct fuse_in_header *h, struct fs_request *r, struct fs_reply *o,
                    unsigned *flags) {
  if (h->opcode == FUSE_INIT) return op_init(s, r, o);
  if (h->opcode == FUSE_INTERRUPT) {
    /* Every request is answered before the next is read: there is never one to interrupt. */
    *flags = NO_REPLY;
    return 0;
  }
  if (!s->initialized) return -EIO;
  if (h->opcode == FUSE_DESTROY) return op_destroy(s, r, o);
  if (h->opcode >= sizeof OPS / sizeof *OPS || !OPS[h->opcode].run) return -ENOSYS;
  *flags = OPS[h->opcode].flags;
  if ((*flags & MODIFIES) && s->read_only) return -EROFS;
  return OPS[h->opcode].run(s, r, o);
}

size_t fs_server_handle(struct fs_server *s, const struct iovec *in, size_t in_count, const struct iovec *out,
                        size_t out_count) {
  size_t out_space = iov_total(out, out_count);
  size_t total = gather(in, in_count, s->in_buf, FS_IN_CAP);
  struct fuse_in_header h = {0};
  memcpy(&h, s->in_buf, total < sizeof h ? total : sizeof h);
  /* virtio-fs sends FORGETs with no buffer for a reply (they get none): only they may come so. */
  bool can_reply = out_space >= sizeof(struct fuse_out_header);
  if (!can_reply && !fs_is_forget(h.opcode)) return 0;
  inodes_next_request(&s->inodes);
  struct fs_request r = {.header = &h, .arg = s->in_buf + sizeof h, .in = in, .in_count = in_count};
  struct fs_reply o = {.body = s->out_buf, .cap = FS_OUT_CAP, .out = out, .out_count = out_count};
  size_t room = can_reply ? out_space - sizeof(struct fuse_out_header) : 0;
  if (o.cap > room) o.cap = room;
  unsigned flags = 0;
  int error;
  if (total < sizeof h || h.len != total) {
    error = -EINVAL;
  } else if (h.opcode == FUSE_WRITE) {
    /* A WRITE may not fit in_buf: its fuse_write_in is read from the copy, its data from `in`. */
    r.arg_len = (total < FS_IN_CAP ? total : FS_IN_CAP) - sizeof h;
    error = dispatch(s, &h, &r, &o, &flags);
  } else if (total > FS_IN_CAP) {
    /* A big SETXATTR still gets ENOSYS, so that the kernel stops sending them. */
    error = h.opcode < sizeof OPS / sizeof *OPS && OPS[h.opcode].run ? -EINVAL : -ENOSYS;
  } else {
    r.arg_len = total - sizeof h;
    error = dispatch(s, &h, &r, &o, &flags);
  }
  if ((flags & NO_REPLY) || !can_reply) return 0;
  struct fuse_out_header reply = {.error = error, .unique = h.unique};
  size_t body = error ? 0 : o.len;
  reply.len = (uint32_t)(sizeof reply + body);
  scatter(out, out_count, &reply, sizeof reply);
  if (body && o.body) {
    size_t n = iov_skip(out, out_count, sizeof reply, s->data_iov);
    scatter(s->data_iov, n, o.body, body);
  }
  return reply.len;
}

const void *request_take(struct fs_request *r, size_t n) {
  if (r->arg_len < n) return NULL;
  const void *p = r->arg;
  r->arg += n;
  r->arg_len -= n;
  return p;
}

int request_string(struct fs_request *r, size_t max, const char **s) {
  const char *start = (const char *)r->arg;
  const char *nul = memchr(start, '\0', r->arg_len);
  if (!nul || nul == start) return -EINVAL;
  if ((size_t)(nul - start) > max) return -ENAMETOOLONG;
  request_take(r, (size_t)(nul - start) + 1);
  *s = start;
  return 0;
}

int request_name(struct fs_request *r, const char **name) {
  int e = request_string(r, NAME_MAX, name);
  if (e) return e;
  if (strchr(*name, '/') || !strcmp(*name, ".") || !strcmp(*name, "..")) return -EINVAL;
  return 0;
}

int reply_put(struct fs_reply *o, const void *bytes, size_t n) {
  if (o->cap - o->len < n) return -ERANGE;
  memcpy(o->body + o->len, bytes, n);
  o->len += n;
  return 0;
}

size_t iov_skip(const struct iovec *iov, size_t count, size_t skip, struct iovec rest[static FS_IOV_MAX]) {
  size_t n = 0;
  for (size_t i = 0; i < count && n < FS_IOV_MAX; i++) {
    if (iov[i].iov_len <= skip) {
      skip -= iov[i].iov_len;
      continue;
    }
    rest[n++] = (struct iovec){(uint8_t *)iov[i].iov_base + skip, iov[i].iov_len - skip};
    skip = 0;
  }
  return n;
}

struct inode *fs_inode(struct fs_server *s, uint64_t nodeid) { return inodes_get(&s->inodes, nodeid); }

int fs_fd(struct fs_server *s, uint64_t nodeid) { return inodes_fd(&s->inodes, nodeid); }

void fs_proc_path(int fd, char path[static 32]) { snprintf(path, 32, "/proc/self/fd/%d", fd); }

int fs_kill_suidgid(int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0) return -errno;
  mode_t kill = S_ISUID | (st.st_mode & S_IXGRP ? S_ISGID : 0);
  if (!S_ISREG(st.st_mode) || !(st.st_mode & kill)) return 0;
  char proc[32];
  fs_proc_path(fd, proc);
  return fchmodat(AT_FDCWD, proc, st.st_mode & 07777 & ~kill, 0) < 0 ? -errno : 0;
}

bool fs_is_locked_dir(const struct fs_server *s, uint64_t nodeid) { return s->only_name && nodeid == FUSE_ROOT_ID; }

mode_t fs_safe_mode(mode_t mode, bool directory) {
  mode &= 07777 & ~(mode_t)S_ISUID;
  return directory ? mode : mode & ~(mode_t)S_ISGID;
}
