/*
 * The nodeid table: every host inode the guest has been shown. One nodeid per (st_dev, st_ino),
 * so hard links share a nodeid as on a local disk. A nodeid is a slot index the guest sends back;
 * it is only ever looked up here.
 *
 * The guest keeps every inode it has seen until memory pressure, so the table may know more
 * inodes than the process may hold descriptors. It holds an O_PATH|O_NOFOLLOW descriptor for at
 * most max_fds of them (least recently used lose theirs first) and finds the others again by
 * their parent's descriptor and their name in it: one component, never following a symlink, and
 * only if the same inode is still there, so a host rename or swap meanwhile answers ESTALE, never
 * another file. "The same" is (st_dev, st_ino) and the file handle: a removed inode's number is
 * given to the next file made (ext4 does so at once), which the handle's generation tells apart.
 * The root always keeps its descriptor; an inode that can no longer be found by name (the guest
 * removed that name) keeps its descriptor while the guest knows it.
 */
#ifndef BOXLITE_FSD_INODES_H
#define BOXLITE_FSD_INODES_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

/* Bounds the table whatever the guest looks up. */
#define INODES_MAX (1u << 20)
/* How many ancestors are re-opened at most to find one inode: deeper ones answer ESTALE once evicted. */
#define INODES_DEPTH_MAX 4096

struct inode {
  bool live; /* false: the slot is free */
  bool unnamed; /* its recorded name was removed: it keeps its descriptor, never evicted */
  bool stale; /* evicted, and its number found again on another inode: off the hash, ESTALE */
  int fd; /* -1: none held (evicted, or the slot is free) */
  dev_t dev;
  ino_t ino;
  uint64_t handle; /* a digest of its file handle, 0 where the filesystem gives none */
  mode_t type; /* S_IFMT bits: fixed for the inode's life */
  uint64_t nlookup;
  uint32_t next; /* the hash chain when live, the free list when free; 0 ends either */
  /* Where to find it again: the parent's slot (0 for the root) and a copy of its name there. */
  uint32_t parent;
  char *name;
  uint32_t children; /* live slots naming this one as parent: it stays while any does */
  uint32_t lru_prev, lru_next; /* among the evictable descriptors, most recent first; 0 ends */
  uint64_t used_in; /* the request that last took its descriptor: not evicted during it */
};

struct inodes {
  struct inode *slots; /* slot 0 unused (nodeid 0 means "none"), slot 1 is the root */
  uint32_t cap, used;
  uint32_t *buckets;
  uint32_t nbuckets; /* a power of two */
  uint32_t free_head;
  uint32_t max_fds, fds; /* evictable descriptors allowed and held */
  uint32_t lru_head, lru_tail;
  uint64_t request;
  uint32_t chain[INODES_DEPTH_MAX];
};

/*
 * 0 or -ENOMEM. Takes `root_fd` (an O_PATH descriptor of the shared directory) as nodeid 1; holds
 * at most max_fds (at least 1) descriptors for the other inodes.
 */
int inodes_init(struct inodes *t, int root_fd, const struct stat *st, uint32_t max_fds);

/* Starts the next request: descriptors taken by inodes_fd stay open until the one after. */
void inodes_next_request(struct inodes *t);

/* The inode with that nodeid, or NULL for any value that is not one the guest holds (never a crash). */
struct inode *inodes_get(struct inodes *t, uint64_t nodeid);

/*
 * The O_PATH descriptor of a nodeid the guest holds, re-opened by name if it was evicted; valid
 * until the next request. -ESTALE for a nodeid that is not one, or an inode that is no longer
 * where it was recorded; -EMFILE and the like from openat.
 */
int inodes_fd(struct inodes *t, uint64_t nodeid);

/*
 * Counts one more lookup of the inode `fd` refers to (stat'ed as `st`), found as `name` in
 * `parent`, taking `fd`: closed if the inode held one already. A known inode is recorded under
 * this newest name; parent 0 (name NULL) keeps the name it has (a LINK's new name). The nodeid in
 * *nodeid. 0, or -ENFILE/-ENOMEM (fd closed).
 */
int inodes_add(struct inodes *t, int fd, const struct stat *st, uint64_t parent, const char *name, uint64_t *nodeid);

/* The known inode recorded as `name` in `parent` (and still there), or 0. */
uint64_t inodes_named(struct inodes *t, uint64_t parent, const char *name);

/*
 * The guest renamed the inode to `name` in `parent`: it is recorded there. Out of memory for the
 * name, it is held as unnamed instead (its descriptor taken before the rename with inodes_fd).
 */
void inodes_moved(struct inodes *t, uint64_t nodeid, uint64_t parent, const char *name);

/*
 * The guest removed the name the inode is recorded under: it keeps its descriptor (taken before
 * the removal with inodes_fd) while the guest knows it.
 */
void inodes_unnamed(struct inodes *t, uint64_t nodeid);

/* Drops n lookups; the slot is freed when none is left and no known child names it. The root stays. */
void inodes_forget(struct inodes *t, uint64_t nodeid, uint64_t n);

void inodes_free(struct inodes *t);

#endif
