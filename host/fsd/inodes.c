#include "inodes.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
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

static void unlink_bucket(struct inodes *t, uint32_t index) {
  uint32_t *at = &t->buckets[hash_of(t->slots[index].dev, t->slots[index].ino, t->nbuckets)];
  while (*at != index) at = &t->slots[*at].next;
  *at = t->slots[index].next;
}

/*
 * A digest of the file handle of the inode fd holds (its number and generation on ext4, tmpfs,
 * xfs...): an O_PATH descriptor pins its inode, but an evicted one's number may be reused, and
 * only the generation tells the new inode from the old. 0 where the filesystem has no handles.
 */
static uint64_t handle_of(int fd) {
  _Alignas(struct file_handle) unsigned char buf[sizeof(struct file_handle) + MAX_HANDLE_SZ];
  struct file_handle *fh = (struct file_handle *)buf;
  fh->handle_bytes = MAX_HANDLE_SZ;
  int mount_id;
  if (name_to_handle_at(fd, "", fh, &mount_id, AT_EMPTY_PATH) < 0) return 0;
  uint64_t h = 0xcbf29ce484222325ull ^ (uint32_t)fh->handle_type; /* FNV-1a */
  for (unsigned i = 0; i < fh->handle_bytes; i++) h = (h ^ fh->f_handle[i]) * 0x100000001b3ull;
  return h;
}

static uint32_t find(const struct inodes *t, dev_t dev, ino_t ino) {
  uint32_t i = t->buckets[hash_of(dev, ino, t->nbuckets)];
  while (i && (t->slots[i].dev != dev || t->slots[i].ino != ino)) i = t->slots[i].next;
  return i;
}

/* The root and an unnamed inode cannot be found again by name: their descriptors are never evicted. */
static bool in_lru(const struct inodes *t, uint32_t i) {
  return i != FUSE_ROOT_NODEID && !t->slots[i].unnamed && t->slots[i].fd >= 0;
}

static void lru_remove(struct inodes *t, uint32_t i) {
  struct inode *n = &t->slots[i];
  if (n->lru_prev) t->slots[n->lru_prev].lru_next = n->lru_next;
  else t->lru_head = n->lru_next;
  if (n->lru_next) t->slots[n->lru_next].lru_prev = n->lru_prev;
  else t->lru_tail = n->lru_prev;
  n->lru_prev = n->lru_next = 0;
  t->fds--;
}

static void lru_push(struct inodes *t, uint32_t i) {
  struct inode *n = &t->slots[i];
  n->lru_prev = 0;
  n->lru_next = t->lru_head;
  if (t->lru_head) t->slots[t->lru_head].lru_prev = i;
  else t->lru_tail = i;
  t->lru_head = i;
  t->fds++;
}

/* Closes the least recently used descriptors past max_fds, but for `keep` and those the current request took. */
static void evict(struct inodes *t, uint32_t keep) {
  uint32_t i = t->lru_tail;
  while (t->fds > t->max_fds && i) {
    uint32_t prev = t->slots[i].lru_prev;
    if (i != keep && t->slots[i].used_in != t->request) {
      lru_remove(t, i);
      close(t->slots[i].fd);
      t->slots[i].fd = -1;
    }
    i = prev;
  }
}

static void hold_fd(struct inodes *t, uint32_t i, int fd) {
  t->slots[i].fd = fd;
  if (!in_lru(t, i)) return;
  lru_push(t, i);
  evict(t, i);
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
  for (uint32_t i = t->cap; i < cap; i++)
    t->slots[i] = (struct inode){.fd = -1, .next = i + 1 < cap ? i + 1 : t->free_head};
  t->free_head = t->cap;
  t->cap = cap;
  for (uint32_t i = 1; i < t->cap; i++)
    if (t->slots[i].live && !t->slots[i].stale) link_bucket(t, i);
  return 0;
}

int inodes_init(struct inodes *t, int root_fd, const struct stat *st, uint32_t max_fds) {
  *t = (struct inodes){.cap = 64, .nbuckets = 64, .max_fds = max_fds ? max_fds : 1};
  t->slots = calloc(t->cap, sizeof *t->slots);
  t->buckets = calloc(t->nbuckets, sizeof *t->buckets);
  if (!t->slots || !t->buckets) {
    inodes_free(t);
    return -ENOMEM;
  }
  for (uint32_t i = 0; i < t->cap; i++)
    t->slots[i] = (struct inode){.fd = -1, .next = i >= 2 && i + 1 < t->cap ? i + 1 : 0};
  t->free_head = 2;
  t->slots[FUSE_ROOT_NODEID] = (struct inode){
      .live = true, .fd = root_fd, .dev = st->st_dev, .ino = st->st_ino, .type = st->st_mode & S_IFMT, .nlookup = 1};
  link_bucket(t, FUSE_ROOT_NODEID);
  t->used = 1;
  return 0;
}

void inodes_next_request(struct inodes *t) { t->request++; }

struct inode *inodes_get(struct inodes *t, uint64_t nodeid) {
  if (nodeid == 0 || nodeid >= t->cap || !t->slots[nodeid].live || !t->slots[nodeid].nlookup) return NULL;
  return &t->slots[nodeid];
}

/* Re-opens slot i (evicted) as its name in its parent, which holds a descriptor already. */
static int reopen(struct inodes *t, uint32_t i) {
  struct inode *n = &t->slots[i];
  int fd = openat(t->slots[n->parent].fd, n->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT || errno == ENOTDIR ? -ESTALE : -errno;
  struct stat st;
  if (fstat(fd, &st) < 0 || st.st_dev != n->dev || st.st_ino != n->ino || (st.st_mode & S_IFMT) != n->type ||
      handle_of(fd) != n->handle) {
    close(fd);
    return -ESTALE;
  }
  hold_fd(t, i, fd);
  return 0;
}

/* The descriptor of live slot i, re-opening it and each evicted ancestor from the nearest one held. */
static int slot_fd(struct inodes *t, uint32_t i) {
  uint32_t depth = 0;
  for (uint32_t j = i; t->slots[j].fd < 0; j = t->slots[j].parent) {
    /* The root always holds its descriptor; an unnamed or stale inode without one is gone. */
    const struct inode *n = &t->slots[j];
    if (depth == INODES_DEPTH_MAX || !n->parent || n->unnamed || n->stale) return -ESTALE;
    t->chain[depth++] = j;
  }
  while (depth) {
    int e = reopen(t, t->chain[--depth]);
    if (e) return e;
  }
  if (in_lru(t, i)) {
    lru_remove(t, i);
    lru_push(t, i);
  }
  t->slots[i].used_in = t->request;
  return t->slots[i].fd;
}

int inodes_fd(struct inodes *t, uint64_t nodeid) {
  return inodes_get(t, nodeid) ? slot_fd(t, (uint32_t)nodeid) : -ESTALE;
}

/* Frees slot i if nothing holds it any more, then its parent likewise: a child pins its parent. */
static void release(struct inodes *t, uint32_t i) {
  while (i && i != FUSE_ROOT_NODEID && t->slots[i].live && !t->slots[i].nlookup && !t->slots[i].children) {
    struct inode *n = &t->slots[i];
    if (!n->stale) unlink_bucket(t, i);
    if (in_lru(t, i)) lru_remove(t, i);
    if (n->fd >= 0) close(n->fd);
    uint32_t parent = n->parent;
    free(n->name);
    *n = (struct inode){.fd = -1, .next = t->free_head};
    t->free_head = i;
    t->used--;
    if (parent) t->slots[parent].children--;
    i = parent;
  }
}

/* Records slot i as `name` in `parent`; kept as it was when parent lies below i (stale names on the host). */
static int record_name(struct inodes *t, uint32_t i, uint32_t parent, const char *name) {
  struct inode *n = &t->slots[i];
  if (n->parent == parent && !n->unnamed && !strcmp(n->name, name)) return 0;
  uint32_t depth = 0;
  for (uint32_t j = parent; j && depth < INODES_DEPTH_MAX; j = t->slots[j].parent, depth++)
    if (j == i) return 0;
  char *copy = strdup(name);
  if (!copy) return -ENOMEM;
  uint32_t old = n->parent;
  free(n->name);
  n->name = copy;
  n->parent = parent;
  t->slots[parent].children++;
  if (n->unnamed) {
    n->unnamed = false;
    if (n->fd >= 0) {
      lru_push(t, i);
      evict(t, i);
    }
  }
  if (old) {
    t->slots[old].children--;
    release(t, old);
  }
  return 0;
}

/*
 * Whether evicted slot i is the inode fd holds, found by its (dev, ino): not when that number
 * now belongs to another inode. Then slot i leaves the hash for the new one and answers ESTALE.
 */
static bool same_inode(struct inodes *t, uint32_t i, const struct stat *st, uint64_t handle) {
  if ((st->st_mode & S_IFMT) == t->slots[i].type && handle == t->slots[i].handle) return true;
  unlink_bucket(t, i);
  t->slots[i].stale = true;
  return false;
}

int inodes_add(struct inodes *t, int fd, const struct stat *st, uint64_t parent, const char *name, uint64_t *nodeid) {
  uint32_t i = find(t, st->st_dev, st->st_ino);
  uint64_t handle = 0;
  /* A held descriptor pins its inode: only an evicted one's number may have gone to another. */
  if (!i || t->slots[i].fd < 0) handle = handle_of(fd);
  if (i && t->slots[i].fd < 0 && !same_inode(t, i, st, handle)) i = 0;
  if (i) {
    if (t->slots[i].fd >= 0) close(fd);
    else hold_fd(t, i, fd);
    t->slots[i].nlookup++;
    *nodeid = i;
    /* The name it was just found under resolves now, which an older one may no longer do. */
    if (parent && i != FUSE_ROOT_NODEID) record_name(t, i, (uint32_t)parent, name);
    return 0;
  }
  char *copy = NULL;
  int e = parent && !(copy = strdup(name)) ? -ENOMEM : 0;
  if (!e && !t->free_head) e = grow(t);
  if (e) {
    free(copy);
    close(fd);
    return e;
  }
  i = t->free_head;
  t->free_head = t->slots[i].next;
  t->slots[i] = (struct inode){.live = true,
                               .unnamed = !parent,
                               .fd = -1,
                               .dev = st->st_dev,
                               .ino = st->st_ino,
                               .handle = handle,
                               .type = st->st_mode & S_IFMT,
                               .nlookup = 1,
                               .parent = (uint32_t)parent,
                               .name = copy};
  if (parent) t->slots[parent].children++;
  link_bucket(t, i);
  t->used++;
  hold_fd(t, i, fd);
  *nodeid = i;
  return 0;
}

uint64_t inodes_named(struct inodes *t, uint64_t parent, const char *name) {
  if (!inodes_get(t, parent)) return 0;
  int fd = slot_fd(t, (uint32_t)parent);
  struct stat st;
  if (fd < 0 || fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return 0;
  uint32_t i = find(t, st.st_dev, st.st_ino);
  if (!i || t->slots[i].parent != parent || t->slots[i].unnamed || strcmp(t->slots[i].name, name)) return 0;
  return i;
}

void inodes_moved(struct inodes *t, uint64_t nodeid, uint64_t parent, const char *name) {
  if (nodeid == FUSE_ROOT_NODEID || nodeid >= t->cap || !t->slots[nodeid].live || !inodes_get(t, parent)) return;
  if (record_name(t, (uint32_t)nodeid, (uint32_t)parent, name) < 0) inodes_unnamed(t, nodeid);
}

void inodes_unnamed(struct inodes *t, uint64_t nodeid) {
  if (nodeid == FUSE_ROOT_NODEID || nodeid >= t->cap || !t->slots[nodeid].live) return;
  /* Without a descriptor (evicted and not re-opened first) it is simply gone: ESTALE from now on. */
  if (in_lru(t, (uint32_t)nodeid)) lru_remove(t, (uint32_t)nodeid);
  t->slots[nodeid].unnamed = true;
}

void inodes_forget(struct inodes *t, uint64_t nodeid, uint64_t n) {
  struct inode *node = inodes_get(t, nodeid);
  if (!node || nodeid == FUSE_ROOT_NODEID) return;
  node->nlookup -= n < node->nlookup ? n : node->nlookup;
  release(t, (uint32_t)nodeid);
}

void inodes_free(struct inodes *t) {
  for (uint32_t i = 1; t->slots && i < t->cap; i++) {
    if (t->slots[i].fd >= 0) close(t->slots[i].fd);
    free(t->slots[i].name);
  }
  free(t->slots);
  free(t->buckets);
  *t = (struct inodes){0};
}
