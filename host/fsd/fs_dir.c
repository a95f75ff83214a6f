/* Directory listings: READDIR and READDIRPLUS from getdents64 on an open directory, whose d_off
 * cookies are the offsets the guest sends back. */
#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "fs_internal.h"

struct linux_dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  unsigned short d_reclen;
  unsigned char d_type;
  char d_name[];
};

static bool is_dot(const char *name) { return !strcmp(name, ".") || !strcmp(name, ".."); }

/* A single-file share's root lists its one name, and only as LOOKUP finds it: while a regular
 * file (a file system without d_type leaves that to LOOKUP). */
static bool listed_in_locked_dir(const struct fs_server *s, const struct linux_dirent64 *d) {
  if (is_dot(d->d_name)) return true;
  return !strcmp(d->d_name, s->only_name) && (d->d_type == DT_REG || d->d_type == DT_UNKNOWN);
}

/* Appends one entry; -ERANGE when it does not fit (nothing appended, nothing counted). */
static int put_entry(struct fs_server *s, uint64_t dir, const struct linux_dirent64 *d, bool plus,
                     struct fs_reply *o) {
  size_t namelen = strlen(d->d_name);
  size_t head = plus ? FUSE_NAME_OFFSET_DIRENTPLUS : FUSE_NAME_OFFSET;
  size_t size = FUSE_DIRENT_ALIGN(head + namelen);
  if (o->cap - o->len < size) return -ERANGE;
  uint8_t *at = o->body + o->len;
  memset(at, 0, size);
  struct fuse_dirent *dirent = (struct fuse_dirent *)at;
  if (plus) {
    struct fuse_direntplus *p = (struct fuse_direntplus *)at;
    dirent = &p->dirent;
    /* Nodeid 0 tells the kernel to skip the entry's attributes: for "." and "..", and for a name
     * gone since getdents. */
    if (!is_dot(d->d_name) && fs_lookup_entry(s, dir, d->d_name, &p->entry_out) < 0) p->entry_out.nodeid = 0;
  }
  dirent->ino = d->d_ino;
  dirent->off = (uint64_t)d->d_off;
  dirent->namelen = (uint32_t)namelen;
  dirent->type = d->d_type;
  memcpy(dirent->name, d->d_name, namelen);
  o->len += size;
  return 0;
}

static int read_dir(struct fs_server *s, struct fs_request *r, struct fs_reply *o, bool plus) {
  const struct fuse_read_in *in = request_take(r, sizeof *in);
  if (!in) return -EINVAL;
  if (!fs_inode(s, r->header->nodeid)) return -ESTALE;
  int fd = handles_get(&s->handles, in->fh, r->header->nodeid);
  if (fd < 0) return fd;
  if (in->offset > INT64_MAX) return -EINVAL;
  if (in->size < o->cap) o->cap = in->size;
  if (lseek(fd, (off_t)in->offset, SEEK_SET) < 0) return -errno;
  bool only = fs_is_locked_dir(s, r->header->nodeid);
  for (;;) {
    long n = getdents64(fd, s->dirents, sizeof s->dirents);
    if (n < 0) return -errno;
    if (n == 0) return 0;
    for (long pos = 0; pos < n;) {
      const struct linux_dirent64 *d = (const struct linux_dirent64 *)(s->dirents + pos);
      pos += d->d_reclen;
      if (only && !listed_in_locked_dir(s, d)) continue;
      if (put_entry(s, r->header->nodeid, d, plus, o) < 0) return 0;
    }
  }
}

int op_readdir(struct fs_server *s, struct fs_request *r, struct fs_reply *o) { return read_dir(s, r, o, false); }

int op_readdirplus(struct fs_server *s, struct fs_request *r, struct fs_reply *o) { return read_dir(s, r, o, true); }
