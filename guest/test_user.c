/* user_resolve() against the fixture files in testdata/. */
#include <stdlib.h>

#include "test.h"
#include "user.h"

static char passwd[512], group[512];
/* The same files' texts, for user_resolve_text; empty when the files are missing. */
static char passwd_text[65536], group_text[65536];
static size_t passwd_len, group_len;

static size_t slurp(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  size_t n = fread(buf, 1, cap, f);
  fclose(f);
  return n;
}

static void load_texts(void) {
  passwd_len = slurp(passwd, passwd_text, sizeof passwd_text);
  group_len = slurp(group, group_text, sizeof group_text);
}

/* user_resolve, checked to agree with user_resolve_text on the same files' texts. */
static int resolve_both(const char *spec, struct user_ids *ids, char *err, size_t errlen) {
  struct user_ids from_text;
  char text_err[256] = "";
  int rc = user_resolve(spec, passwd, group, ids, err, errlen);
  int text_rc = user_resolve_text(spec, passwd_text, passwd_len, group_text, group_len, &from_text, text_err, sizeof text_err);
  CHECK(rc == text_rc);
  if (rc == 0 && text_rc == 0) CHECK(memcmp(ids, &from_text, sizeof *ids) == 0);
  else CHECK_STR(text_err, err);
  return rc;
}

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
  int rc = resolve_both(e->spec, &ids, err, sizeof err);
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
  CHECK(resolve_both(spec, &ids, err, sizeof err) < 0);
  CHECK_STR(err, message);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "testdata";
  snprintf(passwd, sizeof passwd, "%s/passwd", dir);
  snprintf(group, sizeof group, "%s/group", dir);
  load_texts();

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
  load_texts();
  static const struct expect bare[] = {{"", 0, 0, "/", 1, {0}}, {"5:6", 5, 6, "/", 1, {6}}};
  for (size_t i = 0; i < sizeof bare / sizeof *bare; i++) check_user(&bare[i]);
  check_error("app", "unable to find user app: no matching entries in /etc/passwd");
  return test_finish("test_user");
}
