#include "inodes.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define FUSE_ROOT_NODEID 1

static uint32_t hash_of(dev_t dev, ino_t ino, uint32_t nbuckets) {
  uint64_t h = (uint64_t)ino * 0x9e3779b97f4a7c15ull ^ (uint64_t)dev * 0xc2b2ae3d27d4eb4full;
  return (uint32_t)(h >> 32) & (nbuckets - 1);
}

static void link_bucket(struct inodes *t, uint32_t index) {
  uint32_t b = hash_of(t->slots[index].dev, t->slots[index].ino, t->nbuckets);
  t->slots[index].next = t->buckets[b];
  t->buckets[b] = index;
}

/* Doubles slots and buckets together so chains stay short; rehashes every live slot. */
static int grow(struct inodes *t) {
  if (t->cap >= INODES_MAX) return -ENFILE;
  uint32_t cap = t->cap * 2;
  struct inode *slots = realloc(t->slots, cap * sizeof *slots);
  if (!slots) return -ENOMEM;
  t->slots = slots;
  uint32_t *buckets = calloc(cap, sizeof *buckets);
  if (!buckets) return -ENOMEM;
  free(t->buckets);
  t->buckets = buckets;
  t->nbuckets = cap;
  for (uint32_t i = t->cap; i < cap; i++) {
    t->slots[i].fd = -1;
    t->slots[i].next = i + 1 < cap ? i + 1 : t->free_head;
  }
  t->free_head = t->cap;
  t->cap = cap;
  for (uint32_t i = 1; i < t->cap; i++)
    if (t->slots[i].fd >= 0) link_bucket(t, i);
  return 0;
}

int inodes_init(struct inodes *t, int root_fd, const struct stat *st) {
  *t = (struct inodes){0};
  t->cap = 64;
  t->nbuckets = 64;
  t->slots = calloc(t->cap, sizeof *t->slots);
  t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
  if (!t->slots || !t->buckets) {
    inodes_free(t);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < t->cap; i++) {
    t->slots[i].fd = -1;
    t->slots[i].next = i >= 2 && i + 1 < t->cap ? i + 1 : 0;
  }
  t->free_head = 2;
  t->slots[FUSE_ROOT_NODEID] = (struct inode){.fd = root_fd, .dev = st->st_dev, .ino = st->st_ino, .type = st->st_mode & S_IFMT, .nlookup = 1};
  link_bucket(t, FUSE_ROOT_NODEID);
  t->used = 1;
  return 0;
}

struct inode *inodes_get(struct inodes *t, uint64_t nodeid) {
  if (nodeid == 0 || nodeid >= t->cap || t->slots[nodeid].fd < 0) return NULL;
  return &t->slots[nodeid];
}

int inodes_add(struct inodes *t, int fd, const struct stat *st, uint64_t *nodeid) {
  for (uint32_t i = t->buckets[hash_of(st->st_dev, st->st_ino, t->nbuckets)]; i; i = t->slots[i].next) {
    struct inode *n = &t->slots[i];
    if (n->dev == st->st_dev && n->ino == st->st_ino) {
      close(fd);
      n->nlookup++;
      *nodeid = i;
      return 0;
    }
  }
  if (!t->free_head) {
    int r = grow(t);
    if (r < 0) {
      close(fd);
      return r;
    }
  }
  uint32_t i = t->free_head;
  t->free_head = t->slots[i].next;
  t->slots[i] = (struct inode){.fd = fd, .dev = st->st_dev, .ino = st->st_ino, .type = st->st_mode & S_IFMT, .nlookup = 1};
  link_bucket(t, i);
  t->used++;
  *nodeid = i;
  return 0;
}

static void unlink_bucket(struct inodes *t, uint32_t index) {
  uint32_t *at = &t->buckets[hash_of(t->slots[index].dev, t->slots[index].ino, t->nbuckets)];
  while (*at != index) at = &t->slots[*at].next;
  *at = t->slots[index].next;
}

void inodes_forget(struct inodes *t, uint64_t nodeid, uint64_t n) {
  struct inode *node = inodes_get(t, nodeid);
  if (!node || nodeid == FUSE_ROOT_NODEID) return;
  node->nlookup -= n < node->nlookup ? n : node->nlookup;
  if (node->nlookup) return;
  unlink_bucket(t, (uint32_t)nodeid);
  close(node->fd);
  node->fd = -1;
  node->next = t->free_head;
  t->free_head = (uint32_t)nodeid;
  t->used--;
}

void inodes_free(struct inodes *t) {
  for (uint32_t i = 1; t->slots && i < t->cap; i++)
    if (t->slots[i].fd >= 0) close(t->slots[i].fd);
  free(t->slots);
  free(t->buckets);
  *t = (struct inodes){0};
}
