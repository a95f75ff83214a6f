/* userdb (userdb.c): /etc/passwd and /etc/group kept between commands, and read again whenever
 * /etc or either file changes, in temporary roots. */
#include <stdlib.h>

#include "test_files.h"
#include "userdb.h"

#define PASSWD "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
#define GROUP "root:x:0:\napp:x:1000:\nstaff:x:50:app\n"

/* Resolves spec and returns its uid, or -1 when it does not resolve. */
static long uid_of(struct userdb *db, const char *spec) {
  struct user_ids ids;
  char err[256];
  return userdb_resolve(db, spec, &ids, err, sizeof err) == 0 ? (long)ids.uid : -1;
}

static size_t groups_of(struct userdb *db, const char *spec) {
  struct user_ids ids;
  char err[256];
  return userdb_resolve(db, spec, &ids, err, sizeof err) == 0 ? ids.ngroups : 0;
}

static void test_the_files_are_read_once_until_something_in_etc_changes(void) {
  struct root r;
  root_make(&r);
  put_text(r.fd, "etc/passwd", PASSWD);
  put_text(r.fd, "etc/group", GROUP);
  struct userdb db;
  userdb_init(&db, r.path);
  CHECK(uid_of(&db, "app") == 1000 && uid_of(&db, "") == 0 && groups_of(&db, "app") == 2);
  CHECK(db.loads == 1);
  /* Appended to in place, as adduser does. */
  int fd = openat(r.fd, "etc/passwd", O_WRONLY | O_APPEND);
  CHECK(fd >= 0 && write(fd, "bob:x:1001:1001::/home/bob:/bin/sh\n", 35) == 35);
  close(fd);
  CHECK(uid_of(&db, "bob") == 1001 && db.loads == 2);
  /* The same user again, then another: both from what was read. */
  CHECK(uid_of(&db, "bob") == 1001 && uid_of(&db, "app") == 1000 && uid_of(&db, "bob") == 1001 && db.loads == 2);
  /* Replaced by a rename, as useradd and sed -i do. */
  put_text(r.fd, "etc/.group.new", "root:x:0:\napp:x:1000:\nstaff:x:50:app\nwheel:x:10:app\n");
  CHECK(renameat(r.fd, "etc/.group.new", r.fd, "etc/group") == 0);
  CHECK(groups_of(&db, "app") == 3 && db.loads == 3);
  /* Another file of /etc changing reads them again too: harmless, and simpler than telling. */
  put_text(r.fd, "etc/motd", "hi\n");
  CHECK(uid_of(&db, "app") == 1000 && db.loads == 4);
  /* Gone: root still resolves (home "/"), names do not. */
  CHECK(unlinkat(r.fd, "etc/passwd", 0) == 0);
  CHECK(uid_of(&db, "") == 0 && uid_of(&db, "app") == -1);
  /* And back. */
  put_text(r.fd, "etc/passwd", PASSWD);
  CHECK(uid_of(&db, "app") == 1000);
  userdb_destroy(&db);
  root_remove(&r);
}

static void test_a_write_through_another_hard_link_is_seen(void) {
  struct root r;
  root_make(&r);
  put_text(r.fd, "etc/passwd", PASSWD);
  put_text(r.fd, "etc/group", GROUP);
  CHECK(linkat(r.fd, "etc/passwd", r.fd, "passwd.link", 0) == 0);
  struct userdb db;
  userdb_init(&db, r.path);
  CHECK(uid_of(&db, "carol") == -1);
  int fd = openat(r.fd, "passwd.link", O_WRONLY | O_APPEND);
  CHECK(fd >= 0 && write(fd, "carol:x:1002:1002::/home/carol:/bin/sh\n", 39) == 39);
  close(fd);
  CHECK(uid_of(&db, "carol") == 1002);
  userdb_destroy(&db);
  root_remove(&r);
}

static void test_files_that_cannot_be_watched_are_read_every_time(void) {
  struct root r, outside;
  root_make(&r);
  root_make(&outside);
  /* A symlinked passwd: its target could change unseen. */
  put_text(outside.fd, "passwd", PASSWD);
  char target[160];
  snprintf(target, sizeof target, "%s/passwd", outside.path);
  put_symlink(r.fd, "etc/passwd", target);
  put_text(r.fd, "etc/group", GROUP);
  struct userdb db;
  userdb_init(&db, r.path);
  CHECK(uid_of(&db, "app") == 1000 && uid_of(&db, "app") == 1000 && db.loads == 2);
  userdb_destroy(&db);
  root_remove(&r);
  root_remove(&outside);
}

int main(void) {
  test_the_files_are_read_once_until_something_in_etc_changes();
  test_a_write_through_another_hard_link_is_seen();
  test_files_that_cannot_be_watched_are_read_every_time();
  return test_finish("test_userdb");
}
