/*
 * The file server's FUSE half: answers FUSE requests (the kernel's fuse.h ABI) for one
 * shared directory on the host, confined to it. Transport-free: the vhost-user half
 * (vhost.c) hands it requests from the guest's virtio-fs queues, and the test harness
 * (fuse_mount_harness.c) hands it requests from the host's /dev/fuse.
 */
#ifndef BOXLITE_FSD_FS_SERVER_H
#define BOXLITE_FSD_FS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct fs_options {
  /* The shared directory, absolute (resolved by the caller). */
  const char *root;
  /* Every request that would change the share fails EROFS; files open read-only. */
  bool read_only;
  /* A single-file share: the root shows only this entry of `root` (a regular file) and
   * nothing can be created, removed or renamed in the root. NULL for a directory share. */
  const char *only_name;
  /* How many inodes other than the root hold a descriptor at once (the others are re-opened by
   * name when used); 0: fs_inode_fds_budget(1) at fs_server_new. */
  unsigned max_inode_fds;
};

/* Raises the soft RLIMIT_NOFILE to the hard one: every inode the guest holds may want a descriptor. */
void fs_raise_nofile(void);

/*
 * max_inode_fds for each of `servers` servers in one process, from the soft RLIMIT_NOFILE: half
 * of what a reserve for the transport leaves, split among them (the other half is for the files
 * the guests open), within fixed bounds.
 */
unsigned fs_inode_fds_budget(size_t servers);

struct fs_server;

/*
 * NULL with the reason in `why` when the root cannot be opened (or only_name is not one file
 * name). The caller runs with umask 0: the guest's kernel has applied the box's umask to every
 * mode it sends. Files are made with the caller's own credentials, whatever the request's uid.
 */
struct fs_server *fs_server_new(const struct fs_options *options, char *why, size_t whylen);

/*
 * Handles one request: `in` holds fuse_in_header and its arguments across `in_count`
 * buffers (a READ's or WRITE's data may span several); the reply (fuse_out_header and its
 * body) is written across `out`. Returns the reply's length, or 0 for a request that
 * takes no reply (FORGET, BATCH_FORGET, INTERRUPT) or when `out` cannot hold a reply header.
 * Never trusts the request: a short or malformed one gets an error reply (EINVAL/EIO), never a
 * crash. One request at a time: the server keeps its buffers between calls (not thread-safe).
 */
/* FORGET and BATCH_FORGET get no reply, so virtio-fs gives them no buffer for one. */
bool fs_is_forget(uint32_t opcode);

size_t fs_server_handle(struct fs_server *server, const struct iovec *in, size_t in_count, const struct iovec *out,
                        size_t out_count);

void fs_server_free(struct fs_server *server);

#endif
