/* user_resolve() against the fixture files in testdata/. */
#include <stdlib.h>

#include "test.h"
#include "user.h"

static char passwd[512], group[512];

struct expect {
  const char *spec;
  uint32_t uid, gid;
  const char *home;
  size_t ngroups;
  uint32_t groups[8];
};

static void check_user(const struct expect *e) {
  struct user_ids ids;
  char err[256] = "";
  int rc = user_resolve(e->spec, passwd, group, &ids, err, sizeof err);
  if (rc != 0) fprintf(stderr, "user \"%s\": %s\n", e->spec, err);
  CHECK(rc == 0);
  if (rc != 0) return;
  bool same = ids.uid == e->uid && ids.gid == e->gid && strcmp(ids.home, e->home) == 0 && ids.ngroups == e->ngroups;
  for (size_t i = 0; same && i < e->ngroups; i++) same = ids.groups[i] == e->groups[i];
  if (!same) {
    fprintf(stderr, "user \"%s\": uid %u gid %u home %s groups", e->spec, ids.uid, ids.gid, ids.home);
    for (size_t i = 0; i < ids.ngroups; i++) fprintf(stderr, " %u", ids.groups[i]);
    fprintf(stderr, "\n");
  }
  CHECK(same);
}

static void check_error(const char *spec, const char *message) {
  struct user_ids ids;
  char err[256] = "";
  CHECK(user_resolve(spec, passwd, group, &ids, err, sizeof err) < 0);
  CHECK_STR(err, message);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "testdata";
  snprintf(passwd, sizeof passwd, "%s/passwd", dir);
  snprintf(group, sizeof group, "%s/group", dir);

  static const struct expect cases[] = {
      {"", 0, 0, "/root", 2, {0, 10}},
      {"root", 0, 0, "/root", 2, {0, 10}},
      {"0", 0, 0, "/root", 2, {0, 10}},
      {"app", 1000, 1000, "/home/app", 4, {1000, 10, 50, 70}},
      {"1000", 1000, 1000, "/home/app", 4, {1000, 10, 50, 70}},
      {"app:staff", 1000, 50, "/home/app", 3, {50, 10, 70}},
      {"1000:50", 1000, 50, "/home/app", 3, {50, 10, 70}},
      {"app:4242", 1000, 4242, "/home/app", 4, {4242, 10, 50, 70}},
      {"app:dup", 1000, 60, "/home/app", 4, {60, 10, 50, 70}},
      /* A uid without a passwd entry is allowed: gid 0, home "/", no memberships. */
      {"4242", 4242, 0, "/", 1, {0}},
      {"4242:app", 4242, 1000, "/", 1, {1000}},
      {":staff", 0, 50, "/root", 2, {50, 10}},
      {"nobody", 65534, 65534, "/nonexistent", 1, {65534}},
      {"nohome", 1001, 1001, "/", 1, {1001}},
      {"dup", 1002, 1002, "/first", 1, {1002}},
      {"afterlong", 1005, 1005, "/after", 1, {1005}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) check_user(&cases[i]);

  check_error("bob", "unable to find user bob: no matching entries in /etc/passwd");
  check_error("bob:staff", "unable to find user bob: no matching entries in /etc/passwd");
  check_error("badid", "unable to find user badid: no matching entries in /etc/passwd");
  check_error("long", "unable to find user long: no matching entries in /etc/passwd");
  check_error("4294967295", "unable to find user 4294967295: no matching entries in /etc/passwd");
  check_error("app:nogrp", "unable to find group nogrp: no matching entries in /etc/group");
  check_error("app:", "unable to find group : no matching entries in /etc/group");

  /* Missing files: root and numeric ids still work, names do not. */
  snprintf(passwd, sizeof passwd, "%s/missing-passwd", dir);
  snprintf(group, sizeof group, "%s/missing-group", dir);
  static const struct expect bare[] = {{"", 0, 0, "/", 1, {0}}, {"5:6", 5, 6, "/", 1, {6}}};
  for (size_t i = 0; i < sizeof bare / sizeof *bare; i++) check_user(&bare[i]);
  check_error("app", "unable to find user app: no matching entries in /etc/passwd");
  return test_finish("test_user");
}
