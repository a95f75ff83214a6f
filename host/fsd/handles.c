#include "handles.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int handles_add(struct handles *h, int fd, uint64_t *fh) {
  uint32_t i = 0;
  while (i < h->cap && h->fds[i] >= 0) i++;
  if (i == h->cap) {
    uint32_t cap = h->cap ? h->cap * 2 : 64;
    int *fds = cap <= HANDLES_MAX ? realloc(h->fds, cap * sizeof *fds) : NULL;
    if (!fds) {
      close(fd);
      return h->cap >= HANDLES_MAX ? -EMFILE : -ENOMEM;
    }
    for (uint32_t j = h->cap; j < cap; j++) fds[j] = -1;
    h->fds = fds;
    h->cap = cap;
  }
  h->fds[i] = fd;
  *fh = i;
  return 0;
}

int handles_get(const struct handles *h, uint64_t fh) {
  if (fh >= h->cap || h->fds[fh] < 0) return -EBADF;
  return h->fds[fh];
}

int handles_close(struct handles *h, uint64_t fh) {
  int fd = handles_get(h, fh);
  if (fd < 0) return fd;
  close(fd);
  h->fds[fh] = -1;
  return 0;
}

void handles_free(struct handles *h) {
  for (uint32_t i = 0; i < h->cap; i++)
    if (h->fds[i] >= 0) close(h->fds[i]);
  free(h->fds);
  *h = (struct handles){0};
}
