/* What files.c, files_out.c, files_in.c and files_extract.c share; not part of the API. */
#ifndef BOXLITE_FILES_IMPL_H
#define BOXLITE_FILES_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "files.h"
#include "tar.h"

/* File data moves through buffers of this size: memory stays bounded whatever the sizes. */
#define FILES_BUF (64u * 1024u)

/* Records the first failure in res (later ones are consequences). Returns -1. */
int files_fail(struct files_result *res, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* files_fail(FILES_FAILED) with ": strerror(errno)" appended; ENOSPC and friends included. */
int files_fail_errno(struct files_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* spec paths are absolute; the root fd stands for "/": "/" is ".", "/a/b" is "a/b". */
const char *files_relative(const char *path);
/* The last component of path (trailing slashes ignored) into out; "" for "/". -1 if too long. */
int files_basename(const char *path, char *out, size_t cap);

/* Writes all of buf, retrying on EINTR and short writes. 0, or -1 with errno. */
int files_write_all(int fd, const void *buf, size_t n);

/* A set of inodes, each with an optional name: hard links seen by FILES_OUT, symlinks
 * created by FILES_IN. Open addressing; grows as needed. */
struct inode_slot {
  uint64_t dev, ino;
  char *name; /* owned; NULL when none */
  bool used;
};
struct inode_map {
  struct inode_slot *slots;
  size_t cap, count;
};

/* 0, or -1 when out of memory. An inode already present keeps its first name. */
int inode_map_add(struct inode_map *m, uint64_t dev, uint64_t ino, const char *name);
const struct inode_slot *inode_map_find(const struct inode_map *m, uint64_t dev, uint64_t ino);
void inode_map_free(struct inode_map *m);

/* FILES_IN's reader (files_in.c): the data of the current entry, in the reader's buffer.
 * Sets *chunk and returns how many bytes it holds; 0 at the end of the data; -1 on error. */
struct tar_reader;
ssize_t tar_reader_data(struct tar_reader *r, const uint8_t **chunk);

/* A directory entry's mode and mtime, applied once the whole tar is extracted. */
struct dir_meta {
  char *name;
  uint32_t mode;
  int64_t mtime;
};

/* FILES_IN's extraction state (files_extract.c); files_in.c sets the placement fields. */
struct extract {
  int root;               /* the root fd: absolute symlinks start here, ".." stops here */
  uint64_t root_dev, root_ino;
  int base;               /* the directory entry names are relative to */
  const char *rename;     /* contents: false into a missing path or a file: T's new name */
  bool single_top;        /* contents: false: every name starts with the same T */
  bool no_overwrite;
  bool chown_required;    /* as root a failed chown is an error; otherwise it is expected */
  unsigned hops;          /* symlinks followed in the current lookup */
  char top[256];          /* T, once the first entry named it */
  struct inode_map created; /* symlinks this copy created: never followed */
  struct dir_meta *dirs;
  size_t ndirs, dirs_cap;
  struct files_result *res;
  char name[TAR_NAME_MAX + 258];   /* the current entry's cleaned and mapped name */
  char target[TAR_NAME_MAX + 258]; /* its hard link target, likewise */
};

/* Opens the directory at path[0..len) (relative to dirfd; empty for dirfd itself), one component at a
 * time: existing directories, symlinks not created by this copy (resolved here, inside the
 * root), and with create, new directories (mode 0755). what names the lookup in errors. */
int extract_walk(struct extract *x, int dirfd, const char *path, size_t len, bool create, const char *what);
/* Creates one entry; file data is read through r. */
int extract_entry(struct extract *x, const struct tar_entry *e, struct tar_reader *r);
/* Applies the directories' modes and mtimes (after their contents were written). */
int extract_finish(struct extract *x);
void extract_free(struct extract *x);

#endif
