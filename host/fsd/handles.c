#include "handles.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int handles_add(struct handles *h, int fd, uint64_t nodeid, uint64_t *fh) {
  uint32_t i = 0;
  while (i < h->cap && h->slots[i].fd >= 0) i++;
  if (i == h->cap) {
    uint32_t cap = h->cap ? h->cap * 2 : 64;
    struct handle *slots = cap <= HANDLES_MAX ? realloc(h->slots, cap * sizeof *slots) : NULL;
    if (!slots) {
      close(fd);
      return h->cap >= HANDLES_MAX ? -EMFILE : -ENOMEM;
    }
    for (uint32_t j = h->cap; j < cap; j++) slots[j].fd = -1;
    h->slots = slots;
    h->cap = cap;
  }
  h->slots[i] = (struct handle){.fd = fd, .nodeid = nodeid};
  *fh = i;
  return 0;
}

int handles_get(const struct handles *h, uint64_t fh, uint64_t nodeid) {
  if (fh >= h->cap || h->slots[fh].fd < 0 || h->slots[fh].nodeid != nodeid) return -EBADF;
  return h->slots[fh].fd;
}

int handles_close(struct handles *h, uint64_t fh) {
  if (fh >= h->cap || h->slots[fh].fd < 0) return -EBADF;
  close(h->slots[fh].fd);
  h->slots[fh].fd = -1;
  return 0;
}

void handles_close_node(struct handles *h, uint64_t nodeid) {
  for (uint32_t i = 0; i < h->cap; i++)
    if (h->slots[i].fd >= 0 && h->slots[i].nodeid == nodeid) handles_close(h, i);
}

void handles_free(struct handles *h) {
  for (uint32_t i = 0; i < h->cap; i++)
    if (h->slots[i].fd >= 0) close(h->slots[i].fd);
  free(h->slots);
  *h = (struct handles){0};
}
