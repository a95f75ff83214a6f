/*
 * The container's /etc/passwd and /etc/group as EXEC's user is resolved against them: read
 * once and kept, with the last user resolved from them, until inotify reports a change to
 * /etc or to either file. Opening, reading and parsing both files for every command was a
 * quarter of a millisecond of what a command cost beyond its own run under TCG.
 */
#ifndef BOXLITE_USERDB_H
#define BOXLITE_USERDB_H

#include <stdbool.h>
#include <stddef.h>

#include "user.h"

/* Longest user spec whose resolution is remembered. */
#define USER_SPEC_MAX 255

struct userdb_file {
  char *data;
  size_t len; /* 0: missing or empty */
};

struct userdb {
  char root[240]; /* the container root, in the agent's namespace */
  char etc[256];  /* root/etc */
  int inotify;   /* watching etc and both files while the texts below are current; else -1 */
  struct userdb_file passwd, group;
  unsigned loads; /* how many times the files were read (tests) */
  /* The last user resolved from these texts, answered again without parsing them. */
  bool remembered;
  char spec[USER_SPEC_MAX + 1];
  struct user_ids ids;
};

void userdb_init(struct userdb *db, const char *root);
void userdb_destroy(struct userdb *db);

/*
 * user_resolve against ROOT/etc/passwd and ROOT/etc/group, read again only when they may have
 * changed. They are kept only while the kernel can tell: /etc a directory and both files
 * (when present) regular files, all on the container root's filesystem (a volume's changes
 * made on the host would not show) — else they are read for every call, as before. A change
 * made through a writable mmap is not seen (no tool edits these files so).
 */
int userdb_resolve(struct userdb *db, const char *spec, struct user_ids *out, char *err, size_t errlen);

#endif
