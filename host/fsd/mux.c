/* The shares' virtual root, and the routing and id rewriting between the guest and each share's server. */
#include "mux.h"

#include <dirent.h>
#include <errno.h>
#include <linux/fuse.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define TAG_SHIFT 48
#define LOCAL_MASK ((UINT64_C(1) << TAG_SHIFT) - 1)
/* The tag is share index + 1 in the top 16 bits; 0 is left for the virtual root's ids. */
#define MAX_SHARES ((1u << 16) - 1)
#define OUT_HEADER sizeof(struct fuse_out_header)
#define IN_HEADER sizeof(struct fuse_in_header)
/* A share's server's largest reply other than READ's data: a READDIR(PLUS) page (its FS_OUT_CAP). */
#define BOUNCE_CAP (OUT_HEADER + 64u * 1024)
/* What of a request is copied: the header and a name (LOOKUP in the root) or fixed arguments. */
#define HEAD_CAP (IN_HEADER + 4096)
/* What of the copy goes to a share's server in place of the request's first bytes: the header and
 * the first 16 argument bytes, which hold every fh and nodeid a request carries in its arguments. */
#define PATCH_LEN 16
#define FWD_IOV_MAX 1024
#define FORGET_BATCH 256
/* As the share's servers: the guest re-checks its view of the root once a second. */
#define ROOT_TTL 1

struct mux_entry {
  char name[MUX_NAME_MAX + 1];
  struct fs_server *server;
};

struct forget_req {
  struct fuse_in_header h;
  struct fuse_batch_forget_in b;
  struct fuse_forget_one one[FORGET_BATCH];
};

struct fs_mux {
  struct mux_entry *shares;
  size_t count;
  uid_t uid;
  gid_t gid;
  struct timespec started;
  bool initialized;
  _Alignas(8) uint8_t head[HEAD_CAP];
  _Alignas(8) uint8_t bounce[BOUNCE_CAP];
  struct iovec fwd[FWD_IOV_MAX + 1];
  struct forget_req forgets;
};

/* One request being handled. */
struct call {
  struct fs_mux *mux;
  struct fuse_in_header h;
  const struct iovec *in, *out;
  size_t in_count, out_count;
  size_t total, head_len, out_space;
};

static bool is_share_name(const char *name) {
  size_t len = strlen(name);
  if (len == 0 || len > MUX_NAME_MAX || !strcmp(name, ".") || !strcmp(name, "..")) return false;
  return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == len;
}

struct fs_mux *fs_mux_new(const struct mux_share *shares, size_t count, char *why, size_t whylen) {
  if (count == 0 || count > MAX_SHARES) {
    snprintf(why, whylen, "want 1 to %u shares", MAX_SHARES);
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    if (!is_share_name(shares[i].name)) {
      snprintf(why, whylen, "share name \"%s\": want 1 to %d of [A-Za-z0-9_.-]", shares[i].name, MUX_NAME_MAX);
      return NULL;
    }
    for (size_t k = 0; k < i; k++) {
      if (!strcmp(shares[k].name, shares[i].name)) {
        snprintf(why, whylen, "share name \"%s\" is given twice", shares[i].name);
        return NULL;
      }
    }
  }
  struct fs_mux *mux = calloc(1, sizeof *mux);
  if (!mux || !(mux->shares = calloc(count, sizeof *mux->shares))) {
    snprintf(why, whylen, "out of memory");
    free(mux);
    return NULL;
  }
  for (size_t i = 0; i < count; i++) {
    char reason[256];
    struct fs_server *server = fs_server_new(&shares[i].options, reason, sizeof reason);
    if (!server) {
      snprintf(why, whylen, "share %s: %s", shares[i].name, reason);
      fs_mux_free(mux);
      return NULL;
    }
    snprintf(mux->shares[i].name, sizeof mux->shares[i].name, "%s", shares[i].name);
    mux->shares[i].server = server;
    mux->count = i + 1;
  }
  mux->uid = geteuid();
  mux->gid = getegid();
  clock_gettime(CLOCK_REALTIME, &mux->started);
  return mux;
}

void fs_mux_free(struct fs_mux *mux) {
  if (!mux) return;
  for (size_t i = 0; i < mux->count; i++) fs_server_free(mux->shares[i].server);
  free(mux->shares);
  free(mux);
}

static size_t iov_total(const struct iovec *iov, size_t count) {
  size_t total = 0;
  for (size_t i = 0; i < count; i++) total += iov[i].iov_len;
  return total;
}

/* Copies up to n bytes between buf and the iovecs' bytes from `at` on; how many. */
static size_t iov_move(const struct iovec *iov, size_t count, size_t at, void *buf, size_t n, bool into_iov) {
  size_t done = 0;
  for (size_t i = 0; i < count && done < n; i++) {
    if (iov[i].iov_len <= at) {
      at -= iov[i].iov_len;
      continue;
    }
    size_t k = iov[i].iov_len - at < n - done ? iov[i].iov_len - at : n - done;
    uint8_t *p = (uint8_t *)iov[i].iov_base + at;
    if (into_iov) memcpy(p, (uint8_t *)buf + done, k);
    else memcpy((uint8_t *)buf + done, p, k);
    done += k;
    at = 0;
  }
  return done;
}

static size_t reply(const struct call *c, int error, const void *body, size_t len) {
  if (c->out_space < OUT_HEADER) return 0; /* a FORGET has no room for a reply, even an error */
  if (!error && OUT_HEADER + len > c->out_space) error = -ERANGE;
  if (error) len = 0;
  struct fuse_out_header oh = {.len = (uint32_t)(OUT_HEADER + len), .error = error, .unique = c->h.unique};
  iov_move(c->out, c->out_count, 0, &oh, sizeof oh, true);
  if (len) iov_move(c->out, c->out_count, OUT_HEADER, (void *)body, len, true);
  return oh.len;
}

static size_t reply_error(const struct call *c, int error) { return reply(c, error, NULL, 0); }

/* The share and its server's own id of a tagged id; false for an id no share gave out. */
static bool split_id(const struct fs_mux *mux, uint64_t id, size_t *share, uint64_t *local) {
  uint64_t tag = id >> TAG_SHIFT;
  if (tag == 0 || tag > mux->count) return false;
  *share = (size_t)tag - 1;
  *local = id & LOCAL_MASK;
  return true;
}

static uint64_t tagged(size_t share, uint64_t local) { return ((uint64_t)share + 1) << TAG_SHIFT | local; }

/* The bounce buffer as a share's server's `out`, no longer than the caller's. */
static struct iovec bounce_iov(const struct call *c) {
  return (struct iovec){c->mux->bounce, c->out_space < BOUNCE_CAP ? c->out_space : BOUNCE_CAP};
}

/* ---- the virtual root ---- */

static void root_attr(const struct fs_mux *mux, struct fuse_attr *a) {
  *a = (struct fuse_attr){.ino = FUSE_ROOT_ID, .mode = S_IFDIR | 0555, .nlink = 2, .uid = mux->uid, .gid = mux->gid,
                          .blksize = 4096};
  a->atime = a->mtime = a->ctime = (uint64_t)mux->started.tv_sec;
  a->atimensec = a->mtimensec = a->ctimensec = (uint32_t)mux->started.tv_nsec;
}

/* The entry of share i's root, from its server's GETATTR of its nodeid 1. */
static int share_root_entry(const struct call *c, size_t i, struct fuse_entry_out *entry) {
  struct {
    struct fuse_in_header h;
    struct fuse_getattr_in g;
  } req = {.h = c->h};
  req.h.len = sizeof req;
  req.h.opcode = FUSE_GETATTR;
  req.h.nodeid = FUSE_ROOT_ID;
  struct {
    struct fuse_out_header h;
    struct fuse_attr_out a;
  } rep;
  struct iovec in = {&req, sizeof req}, out = {&rep, sizeof rep};
  size_t len = fs_server_handle(c->mux->shares[i].server, &in, 1, &out, 1);
  if (len >= OUT_HEADER && rep.h.error) return rep.h.error;
  if (len < sizeof rep) return -EIO;
  *entry = (struct fuse_entry_out){
      .nodeid = tagged(i, FUSE_ROOT_ID), .entry_valid = ROOT_TTL, .attr_valid = ROOT_TTL, .attr = rep.a.attr};
  return 0;
}

static size_t root_lookup(const struct call *c) {
  const char *name = (const char *)c->mux->head + IN_HEADER;
  if (!memchr(name, '\0', c->head_len - IN_HEADER)) return reply_error(c, -EINVAL);
  for (size_t i = 0; i < c->mux->count; i++) {
    if (strcmp(c->mux->shares[i].name, name) != 0) continue;
    struct fuse_entry_out entry;
    int e = share_root_entry(c, i, &entry);
    return e ? reply_error(c, e) : reply(c, 0, &entry, sizeof entry);
  }
  return reply_error(c, -ENOENT);
}

/* ".", "..", then the shares by name: the offset of an entry is its index, the next one's is in it. */
static size_t root_readdir(const struct call *c, bool plus) {
  struct fuse_read_in r;
  if (c->head_len < IN_HEADER + sizeof r) return reply_error(c, -EINVAL);
  memcpy(&r, c->mux->head + IN_HEADER, sizeof r);
  if (r.fh != 0) return reply_error(c, -EBADF);
  size_t cap = BOUNCE_CAP - OUT_HEADER;
  if (c->out_space - OUT_HEADER < cap) cap = c->out_space - OUT_HEADER;
  if (r.size < cap) cap = r.size;
  uint8_t *body = c->mux->bounce;
  size_t len = 0;
  for (uint64_t i = r.offset; i < c->mux->count + 2; i++) {
    const char *name = i == 0 ? "." : i == 1 ? ".." : c->mux->shares[i - 2].name;
    /* The kernel skips "." and ".." in READDIRPLUS: a zero nodeid is "no entry" to it. */
    struct fuse_entry_out entry = {0};
    if (i >= 2) {
      int e = share_root_entry(c, (size_t)i - 2, &entry);
      if (e) return reply_error(c, e);
    }
    struct fuse_dirent d = {.ino = i >= 2 ? entry.attr.ino : FUSE_ROOT_ID, .off = i + 1, .namelen = (uint32_t)strlen(name),
                            .type = DT_DIR};
    size_t size = plus ? FUSE_DIRENTPLUS_SIZE(&(struct fuse_direntplus){.dirent = d}) : FUSE_DIRENT_SIZE(&d);
    if (len + size > cap) break;
    memset(body + len, 0, size);
    if (plus) memcpy(body + len, &entry, sizeof entry);
    size_t at = len + (plus ? offsetof(struct fuse_direntplus, dirent) : 0);
    memcpy(body + at, &d, FUSE_NAME_OFFSET);
    memcpy(body + at + FUSE_NAME_OFFSET, name, d.namelen);
    len += size;
  }
  return reply(c, 0, body, len);
}

static size_t root_op(const struct call *c) {
  switch (c->h.opcode) {
  case FUSE_GETATTR: {
    struct fuse_attr_out out = {.attr_valid = ROOT_TTL};
    root_attr(c->mux, &out.attr);
    return reply(c, 0, &out, sizeof out);
  }
  case FUSE_LOOKUP:
    return root_lookup(c);
  case FUSE_OPENDIR: {
    /* fh 0: the root's only handle, which holds nothing. */
    struct fuse_open_out out = {0};
    return reply(c, 0, &out, sizeof out);
  }
  case FUSE_READDIR:
  case FUSE_READDIRPLUS:
    return root_readdir(c, c->h.opcode == FUSE_READDIRPLUS);
  case FUSE_RELEASEDIR:
  case FUSE_FSYNCDIR:
    return reply_error(c, 0);
  case FUSE_STATFS:
    /* Nodeid 1 is share 0's root to its server too. */
    return fs_server_handle(c->mux->shares[0].server, c->in, c->in_count, c->out, c->out_count);
  case FUSE_OPEN:
    return reply_error(c, -EISDIR);
  case FUSE_READLINK:
    return reply_error(c, -EINVAL);
  case FUSE_SETATTR:
  case FUSE_MKDIR:
  case FUSE_MKNOD:
  case FUSE_CREATE:
  case FUSE_SYMLINK:
  case FUSE_LINK:
  case FUSE_UNLINK:
  case FUSE_RMDIR:
  case FUSE_RENAME:
  case FUSE_RENAME2:
    return reply_error(c, -EPERM);
  default:
    return reply_error(c, -ENOSYS);
  }
}

/* ---- a share's requests ---- */

/* The fh at `at` in the arguments: the share's server's own, or -EBADF for another share's. */
static int local_fh(struct call *c, size_t share, size_t at) {
  uint8_t *p = c->mux->head + IN_HEADER + at;
  if (c->head_len < IN_HEADER + at + sizeof(uint64_t)) return 0; /* short: its server refuses it */
  uint64_t fh, local;
  size_t owner;
  memcpy(&fh, p, sizeof fh);
  if (!split_id(c->mux, fh, &owner, &local) || owner != share) return -EBADF;
  memcpy(p, &local, sizeof local);
  return 0;
}

/* The second nodeid of RENAME(2) (newdir) and LINK (oldnodeid), first in the arguments. */
static int local_nodeid_arg(struct call *c, size_t share) {
  uint8_t *p = c->mux->head + IN_HEADER;
  if (c->head_len < IN_HEADER + sizeof(uint64_t)) return 0;
  uint64_t id, local;
  size_t owner;
  memcpy(&id, p, sizeof id);
  if (id == FUSE_ROOT_ID) return -EPERM;
  if (!split_id(c->mux, id, &owner, &local)) return -ENOENT;
  if (owner != share) return -EXDEV;
  memcpy(p, &local, sizeof local);
  return 0;
}

static int rewrite_args(struct call *c, size_t share) {
  struct fuse_getattr_in g = {0};
  struct fuse_setattr_in s = {0};
  size_t args = c->head_len - IN_HEADER;
  switch (c->h.opcode) {
  case FUSE_READ:
  case FUSE_WRITE:
  case FUSE_RELEASE:
  case FUSE_RELEASEDIR:
  case FUSE_FLUSH:
  case FUSE_FSYNC:
  case FUSE_FSYNCDIR:
  case FUSE_READDIR:
  case FUSE_READDIRPLUS:
  case FUSE_FALLOCATE:
  case FUSE_LSEEK:
    return local_fh(c, share, 0);
  case FUSE_GETATTR:
    memcpy(&g, c->mux->head + IN_HEADER, args < sizeof g ? args : sizeof g);
    return g.getattr_flags & FUSE_GETATTR_FH ? local_fh(c, share, offsetof(struct fuse_getattr_in, fh)) : 0;
  case FUSE_SETATTR:
    memcpy(&s, c->mux->head + IN_HEADER, args < sizeof s ? args : sizeof s);
    return s.valid & FATTR_FH ? local_fh(c, share, offsetof(struct fuse_setattr_in, fh)) : 0;
  case FUSE_RENAME:
  case FUSE_RENAME2:
  case FUSE_LINK:
    return local_nodeid_arg(c, share);
  default:
    return 0;
  }
}

/* Tags the id at `at` in a reply body (a zero nodeid stays "none"); -EIO for one past 48 bits. */
static int tag_at(uint8_t *body, size_t len, size_t at, size_t share, bool keep_zero) {
  uint64_t id;
  if (len < at + sizeof id) return 0;
  memcpy(&id, body + at, sizeof id);
  if (id > LOCAL_MASK) return -EIO;
  if (id == 0 && keep_zero) return 0;
  id = tagged(share, id);
  memcpy(body + at, &id, sizeof id);
  return 0;
}

static bool reply_has_ids(uint32_t opcode) {
  switch (opcode) {
  case FUSE_LOOKUP:
  case FUSE_MKDIR:
  case FUSE_MKNOD:
  case FUSE_SYMLINK:
  case FUSE_LINK:
  case FUSE_CREATE:
  case FUSE_OPEN:
  case FUSE_OPENDIR:
  case FUSE_READDIRPLUS:
    return true;
  default:
    return false;
  }
}

static int rewrite_reply(const struct call *c, size_t share, size_t len) {
  struct fuse_out_header oh;
  if (len < OUT_HEADER) return 0;
  memcpy(&oh, c->mux->bounce, sizeof oh);
  if (oh.error) return 0;
  uint8_t *body = c->mux->bounce + OUT_HEADER;
  size_t body_len = len - OUT_HEADER;
  const size_t nodeid = offsetof(struct fuse_entry_out, nodeid);
  switch (c->h.opcode) {
  case FUSE_CREATE: {
    int e = tag_at(body, body_len, nodeid, share, true);
    return e ? e : tag_at(body, body_len, sizeof(struct fuse_entry_out) + offsetof(struct fuse_open_out, fh), share, false);
  }
  case FUSE_OPEN:
  case FUSE_OPENDIR:
    return tag_at(body, body_len, offsetof(struct fuse_open_out, fh), share, false);
  case FUSE_READDIRPLUS:
    for (size_t at = 0; at + FUSE_NAME_OFFSET_DIRENTPLUS <= body_len;) {
      struct fuse_direntplus d;
      memcpy(&d, body + at, FUSE_NAME_OFFSET_DIRENTPLUS);
      int e = tag_at(body + at, body_len - at, nodeid, share, true);
      if (e) return e;
      at += FUSE_DIRENTPLUS_SIZE(&d);
    }
    return 0;
  default:
    return tag_at(body, body_len, nodeid, share, true);
  }
}

/* The request with the rewritten copy of its first bytes in front of the rest of `in`, untouched. */
static size_t forward_iovs(struct call *c) {
  memcpy(c->mux->head, &c->h, sizeof c->h);
  size_t first = c->total < IN_HEADER + PATCH_LEN ? c->total : IN_HEADER + PATCH_LEN;
  c->mux->fwd[0] = (struct iovec){c->mux->head, first};
  size_t n = 1, skip = first;
  for (size_t i = 0; i < c->in_count && n <= FWD_IOV_MAX; i++) {
    if (c->in[i].iov_len <= skip) {
      skip -= c->in[i].iov_len;
      continue;
    }
    c->mux->fwd[n++] = (struct iovec){(uint8_t *)c->in[i].iov_base + skip, c->in[i].iov_len - skip};
    skip = 0;
  }
  return n;
}

static size_t forward(struct call *c) {
  size_t share;
  uint64_t local;
  if (!split_id(c->mux, c->h.nodeid, &share, &local)) return reply_error(c, -ENOENT);
  c->h.nodeid = local;
  int e = rewrite_args(c, share);
  if (e) return reply_error(c, e);
  size_t n = forward_iovs(c);
  struct fs_server *server = c->mux->shares[share].server;
  if (!reply_has_ids(c->h.opcode)) return fs_server_handle(server, c->mux->fwd, n, c->out, c->out_count);
  struct iovec bounce = bounce_iov(c);
  size_t len = fs_server_handle(server, c->mux->fwd, n, &bounce, 1);
  e = rewrite_reply(c, share, len);
  if (e) return reply_error(c, e);
  return iov_move(c->out, c->out_count, 0, c->mux->bounce, len, true);
}

static void forget(struct call *c) {
  size_t share;
  uint64_t local;
  /* A share's root stays known to its server: the kernel forgets what the mux's LOOKUP gave. */
  if (!split_id(c->mux, c->h.nodeid, &share, &local) || local == FUSE_ROOT_ID) return;
  c->h.nodeid = local;
  size_t n = forward_iovs(c);
  struct iovec bounce = bounce_iov(c);
  fs_server_handle(c->mux->shares[share].server, c->mux->fwd, n, &bounce, 1);
}

static void send_forgets(struct call *c, size_t share, size_t n) {
  struct forget_req *f = &c->mux->forgets;
  f->h = c->h;
  f->h.nodeid = 0;
  f->h.len = (uint32_t)(offsetof(struct forget_req, one) + n * sizeof f->one[0]);
  f->b = (struct fuse_batch_forget_in){.count = (uint32_t)n};
  struct iovec in = {f, f->h.len}, bounce = bounce_iov(c);
  fs_server_handle(c->mux->shares[share].server, &in, 1, &bounce, 1);
}

/* Each share's server gets the entries that are its own, in batches of its own. */
static void batch_forget(struct call *c) {
  struct fuse_batch_forget_in b;
  if (iov_move(c->in, c->in_count, IN_HEADER, &b, sizeof b, false) < sizeof b) return;
  const size_t first = IN_HEADER + sizeof b, one = sizeof(struct fuse_forget_one);
  size_t count = (c->total - first) / one;
  if (b.count < count) count = b.count;
  for (size_t s = 0; s < c->mux->count; s++) {
    size_t n = 0;
    for (size_t k = 0; k < count; k++) {
      struct fuse_forget_one f;
      size_t share;
      uint64_t local;
      iov_move(c->in, c->in_count, first + k * one, &f, one, false);
      if (!split_id(c->mux, f.nodeid, &share, &local) || share != s || local == FUSE_ROOT_ID) continue;
      c->mux->forgets.one[n++] = (struct fuse_forget_one){.nodeid = local, .nlookup = f.nlookup};
      if (n == FORGET_BATCH) {
        send_forgets(c, s, n);
        n = 0;
      }
    }
    if (n) send_forgets(c, s, n);
  }
}

/* INIT and DESTROY go to every share's server; share 0's answer (all answer alike) is the reply. */
static size_t broadcast(struct call *c) {
  struct iovec bounce = bounce_iov(c);
  size_t len = 0;
  for (size_t i = c->mux->count; i-- > 0;) len = fs_server_handle(c->mux->shares[i].server, c->in, c->in_count, &bounce, 1);
  struct fuse_out_header oh = {.error = -EIO};
  if (len >= OUT_HEADER) memcpy(&oh, c->mux->bounce, sizeof oh);
  c->mux->initialized = c->h.opcode == FUSE_INIT && oh.error == 0;
  return iov_move(c->out, c->out_count, 0, c->mux->bounce, len, true);
}

size_t fs_mux_handle(struct fs_mux *mux, const struct iovec *in, size_t in_count, const struct iovec *out,
                     size_t out_count) {
  struct call c = {.mux = mux, .in = in, .in_count = in_count, .out = out, .out_count = out_count};
  c.out_space = iov_total(out, out_count);
  c.total = iov_total(in, in_count);
  c.head_len = iov_move(in, in_count, 0, mux->head, HEAD_CAP, false);
  memcpy(&c.h, mux->head, c.head_len < sizeof c.h ? c.head_len : sizeof c.h);
  /* virtio-fs sends FORGETs with no buffer for a reply (they get none): only they may come so. */
  if (c.out_space < OUT_HEADER && !fs_is_forget(c.h.opcode)) return 0;
  if (c.total < IN_HEADER || c.h.len != c.total) return reply_error(&c, -EINVAL);
  switch (c.h.opcode) {
  case FUSE_INIT:
  case FUSE_DESTROY:
    return broadcast(&c);
  case FUSE_INTERRUPT:
    return 0; /* as the share's servers: each request is answered before the next is read */
  case FUSE_FORGET:
    forget(&c);
    return 0;
  case FUSE_BATCH_FORGET:
    batch_forget(&c);
    return 0;
  }
  if (!mux->initialized) return reply_error(&c, -EIO);
  if (c.h.nodeid == FUSE_ROOT_ID) return root_op(&c);
  return forward(&c);
}
