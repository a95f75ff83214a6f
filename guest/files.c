/* Helpers shared by FILES_OUT (files_out.c) and FILES_IN (files_in.c, files_extract.c). */
#include "files_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void set_error(struct files_result *res, int code, const char *fmt, va_list ap, int err) {
  res->code = code;
  int n = vsnprintf(res->error, sizeof res->error, fmt, ap);
  if (err && n >= 0 && (size_t)n < sizeof res->error)
    snprintf(res->error + n, sizeof res->error - (size_t)n, ": %s", strerror(err));
}

int files_fail(struct files_result *res, int code, const char *fmt, ...) {
  if (res->code != FILES_OK) return -1;
  va_list ap;
  va_start(ap, fmt);
  set_error(res, code, fmt, ap, 0);
  va_end(ap);
  return -1;
}

int files_fail_errno(struct files_result *res, const char *fmt, ...) {
  int err = errno;
  if (res->code != FILES_OK) return -1;
  va_list ap;
  va_start(ap, fmt);
  set_error(res, FILES_FAILED, fmt, ap, err);
  va_end(ap);
  return -1;
}

const char *files_relative(const char *path) {
  while (*path == '/') path++;
  return *path ? path : ".";
}

int files_basename(const char *path, char *out, size_t cap) {
  size_t end = strlen(path);
  while (end > 0 && path[end - 1] == '/') end--;
  size_t start = end;
  while (start > 0 && path[start - 1] != '/') start--;
  if (end - start >= cap) return -1;
  memcpy(out, path + start, end - start);
  out[end - start] = '\0';
  return 0;
}

int files_write_all(int fd, const void *buf, size_t n) {
  const uint8_t *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static size_t slot_of(const struct inode_map *m, uint64_t dev, uint64_t ino) {
  uint64_t h = (ino * 0x9e3779b97f4a7c15ull) ^ (dev * 0xc2b2ae3d27d4eb4full);
  return (size_t)(h >> 17) & (m->cap - 1);
}

const struct inode_slot *inode_map_find(const struct inode_map *m, uint64_t dev, uint64_t ino) {
  if (m->cap == 0) return NULL;
  for (size_t i = slot_of(m, dev, ino);; i = (i + 1) & (m->cap - 1)) {
    const struct inode_slot *s = &m->slots[i];
    if (!s->used) return NULL;
    if (s->dev == dev && s->ino == ino) return s;
  }
}

static void place(struct inode_map *m, const struct inode_slot *from) {
  size_t i = slot_of(m, from->dev, from->ino);
  while (m->slots[i].used) i = (i + 1) & (m->cap - 1);
  m->slots[i] = *from;
}

/* Doubles the table (kept at most half full, so probing stays short and always ends). */
static int grow(struct inode_map *m) {
  size_t old_cap = m->cap;
  struct inode_slot *old = m->slots;
  size_t cap = old_cap ? old_cap * 2 : 64;
  struct inode_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return -1;
  m->slots = slots;
  m->cap = cap;
  for (size_t i = 0; i < old_cap; i++)
    if (old[i].used) place(m, &old[i]);
  free(old);
  return 0;
}

int inode_map_add(struct inode_map *m, uint64_t dev, uint64_t ino, const char *name) {
  if (inode_map_find(m, dev, ino)) return 0;
  if ((m->count + 1) * 2 > m->cap && grow(m) < 0) return -1;
  struct inode_slot s = {.dev = dev, .ino = ino, .used = true};
  if (name && !(s.name = strdup(name))) return -1;
  place(m, &s);
  m->count++;
  return 0;
}

void inode_map_free(struct inode_map *m) {
  for (size_t i = 0; i < m->cap; i++) free(m->slots[i].name);
  free(m->slots);
  memset(m, 0, sizeof *m);
}
