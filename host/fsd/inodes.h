/*
 * The nodeid table: every host inode the guest has been shown, held as an O_PATH|O_NOFOLLOW
 * descriptor. One nodeid per (st_dev, st_ino), so hard links share a nodeid as on a local
 * disk. A nodeid is a slot index the guest sends back; it is only ever looked up here.
 */
#ifndef BOXLITE_FSD_INODES_H
#define BOXLITE_FSD_INODES_H

#include <stdint.h>
#include <sys/stat.h>

/* Bounds the table (and the descriptors it holds) whatever the guest looks up. */
#define INODES_MAX (1u << 20)

struct inode {
  int fd; /* -1: the slot is free */
  dev_t dev;
  ino_t ino;
  mode_t type; /* S_IFMT bits: fixed for the inode's life */
  uint64_t nlookup;
  uint32_t next; /* the hash chain when in use, the free list when free; 0 ends either */
};

struct inodes {
  struct inode *slots; /* slot 0 unused (nodeid 0 means "none"), slot 1 is the root */
  uint32_t cap, used;
  uint32_t *buckets;
  uint32_t nbuckets; /* a power of two */
  uint32_t free_head;
};

/* 0 or -ENOMEM. Takes `root_fd` (an O_PATH descriptor of the shared directory) as nodeid 1. */
int inodes_init(struct inodes *t, int root_fd, const struct stat *st);

/* The inode with that nodeid, or NULL for any value that is not one (never a crash). */
struct inode *inodes_get(struct inodes *t, uint64_t nodeid);

/*
 * Counts one more lookup of the inode `fd` refers to (stat'ed as `st`), taking `fd`: closed if
 * the inode was known already. The nodeid in *nodeid. 0, or -ENFILE/-ENOMEM (fd closed).
 */
int inodes_add(struct inodes *t, int fd, const struct stat *st, uint64_t *nodeid);

/* Drops n lookups; the inode's descriptor is closed when none is left. The root stays. */
void inodes_forget(struct inodes *t, uint64_t nodeid, uint64_t n);

void inodes_free(struct inodes *t);

#endif
