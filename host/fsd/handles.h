/*
 * Open files and directories (FUSE's fh): each a descriptor opened for I/O. An fh is a slot
 * index the guest sends back; it is only ever looked up here.
 */
#ifndef BOXLITE_FSD_HANDLES_H
#define BOXLITE_FSD_HANDLES_H

#include <stdint.h>

/* Bounds the descriptors a guest can keep open. */
#define HANDLES_MAX (1u << 16)

struct handles {
  int *fds; /* -1: free */
  uint32_t cap;
};

/* Takes fd; the new fh in *fh. 0, or -EMFILE/-ENOMEM (fd closed). */
int handles_add(struct handles *h, int fd, uint64_t *fh);

/* The descriptor of fh, or -EBADF for any value that is not an open fh. */
int handles_get(const struct handles *h, uint64_t fh);

/* 0, or -EBADF. */
int handles_close(struct handles *h, uint64_t fh);

void handles_free(struct handles *h);

#endif
