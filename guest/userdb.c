#include "userdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Anything that can change what a name in /etc holds, or /etc itself. */
#define ETC_EVENTS                                                                                              \
  (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | \
   IN_ONLYDIR | IN_DONT_FOLLOW)
/* The files themselves too: a write through another hard link is reported on the inode only. */
#define FILE_EVENTS (IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_DONT_FOLLOW)

void userdb_init(struct userdb *db, const char *root) {
  memset(db, 0, sizeof *db);
  snprintf(db->root, sizeof db->root, "%s", root);
  snprintf(db->etc, sizeof db->etc, "%s/etc", db->root);
  db->inotify = -1;
}

static void forget(struct userdb *db) {
  if (db->inotify >= 0) close(db->inotify);
  db->inotify = -1;
}

void userdb_destroy(struct userdb *db) {
  forget(db);
  free(db->passwd.data);
  free(db->group.data);
  memset(db, 0, sizeof *db);
  db->inotify = -1;
}

/* Whether the texts are still the files': nothing reported since they were read. */
static bool current(struct userdb *db) {
  if (db->inotify < 0) return false;
  char events[sizeof(struct inotify_event) + 256] __attribute__((aligned(__alignof__(struct inotify_event))));
  if (read(db->inotify, events, sizeof events) < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
  forget(db); /* an event (or an error): read again, and watch afresh */
  return false;
}

/* Reads path whole into f (following a symlink, as fopen did); a file that cannot be read is missing. */
static void read_file(const char *path, struct userdb_file *f) {
  f->len = 0;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  size_t cap = 0;
  for (;;) {
    if (f->len == cap) {
      size_t grown = cap ? cap * 2 : 4096;
      char *data = realloc(f->data, grown);
      if (!data) break;
      f->data = data;
      cap = grown;
    }
    ssize_t n = read(fd, f->data + f->len, cap - f->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    f->len += (size_t)n;
  }
  close(fd);
}

/* A regular file on dev, or nothing at all, can be watched; anything else cannot. */
static bool watchable(const char *path, dev_t dev) {
  struct stat st;
  if (lstat(path, &st) < 0) return errno == ENOENT;
  return S_ISREG(st.st_mode) && st.st_dev == dev;
}

/* Watches /etc and both files, before they are read (a change after the watch is an event, one
 * before it is in what is read). Leaves db->inotify -1 when they cannot all be watched. */
static void watch(struct userdb *db, const char *passwd, const char *group) {
  struct stat root, etc;
  if (stat(db->root, &root) < 0 || lstat(db->etc, &etc) < 0 || !S_ISDIR(etc.st_mode) || etc.st_dev != root.st_dev ||
      !watchable(passwd, root.st_dev) || !watchable(group, root.st_dev))
    return;
  db->inotify = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (db->inotify < 0) return;
  bool ok = inotify_add_watch(db->inotify, db->etc, ETC_EVENTS) >= 0;
  const char *files[] = {passwd, group};
  for (size_t i = 0; ok && i < 2; i++)
    ok = inotify_add_watch(db->inotify, files[i], FILE_EVENTS) >= 0 || errno == ENOENT;
  if (!ok) forget(db);
}

int userdb_resolve(struct userdb *db, const char *spec, struct user_ids *out, char *err, size_t errlen) {
  if (!current(db)) {
    char passwd[sizeof db->etc + 8], group[sizeof db->etc + 8];
    snprintf(passwd, sizeof passwd, "%s/passwd", db->etc);
    snprintf(group, sizeof group, "%s/group", db->etc);
    watch(db, passwd, group);
    read_file(passwd, &db->passwd);
    read_file(group, &db->group);
    db->loads++;
    db->remembered = false;
  }
  /* Most commands run as the same user: the answer is kept with the texts it came from. */
  if (db->remembered && strcmp(db->spec, spec) == 0) {
    *out = db->ids;
    return 0;
  }
  int rc = user_resolve_text(spec, db->passwd.data, db->passwd.len, db->group.data, db->group.len, out, err, errlen);
  db->remembered = rc == 0 && db->inotify >= 0 && strlen(spec) <= USER_SPEC_MAX;
  if (db->remembered) {
    snprintf(db->spec, sizeof db->spec, "%s", spec);
    db->ids = *out;
  }
  return rc;
}
