/*
 * Open files and directories (FUSE's fh): each a descriptor opened for I/O, and the nodeid it
 * was opened for. An fh is a slot index the guest sends back; it is only ever looked up here.
 */
#ifndef BOXLITE_FSD_HANDLES_H
#define BOXLITE_FSD_HANDLES_H

#include <stdint.h>

/* Bounds the descriptors a guest can keep open. */
#define HANDLES_MAX (1u << 16)

struct handle {
  int fd; /* -1: free */
  uint64_t nodeid;
};

struct handles {
  struct handle *slots;
  uint32_t cap;
};

/* Takes fd, opened for nodeid; the new fh in *fh. 0, or -EMFILE/-ENOMEM (fd closed). */
int handles_add(struct handles *h, int fd, uint64_t nodeid, uint64_t *fh);

/*
 * The descriptor of fh, or -EBADF for any value that is not an fh open for that nodeid: a guest
 * cannot read one directory's listing as another's (a single-file share's root filters by nodeid).
 */
int handles_get(const struct handles *h, uint64_t fh, uint64_t nodeid);

/* 0, or -EBADF. */
int handles_close(struct handles *h, uint64_t fh);

/* Closes every fh open for nodeid: its nodeid is gone, and may be given to another inode next. */
void handles_close_node(struct handles *h, uint64_t nodeid);

void handles_free(struct handles *h);

#endif
