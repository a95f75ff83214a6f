#include "user.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define LINE_MAX_BYTES 4096
#define NAME_MAX_BYTES 256

/* Parses a decimal id; -1 for anything else (including (uid_t)-1, which means "no change"). */
static int parse_id(const char *s, uint32_t *out) {
  if (!*s) return -1;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return -1;
    v = v * 10 + (uint64_t)(*s - '0');
    if (v >= UINT32_MAX) return -1;
  }
  *out = (uint32_t)v;
  return 0;
}

/* Reads the next line into buf, skipping lines too long for it; returns false at end of file. */
static bool read_line(FILE *f, char *buf, size_t cap) {
  while (fgets(buf, (int)cap, f)) {
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n') {
      buf[n - 1] = '\0';
      return true;
    }
    if (feof(f)) return true;
    int c;
    while ((c = fgetc(f)) != EOF && c != '\n') {
    }
  }
  return false;
}

/* Splits line at ':' into at most max fields; returns the number of fields. */
static size_t split_fields(char *line, char **fields, size_t max) {
  size_t n = 0;
  fields[n++] = line;
  for (char *p = line; *p && n < max; p++)
    if (*p == ':') {
      *p = '\0';
      fields[n++] = p + 1;
    }
  return n;
}

struct passwd_entry {
  char name[NAME_MAX_BYTES];
  uint32_t uid, gid;
  char home[USER_HOME_MAX];
};

/* Finds the first passwd entry with the given name (or uid when name is NULL) in f (NULL: none). */
static bool find_passwd(FILE *f, const char *name, uint32_t uid, struct passwd_entry *out) {
  if (!f) return false;
  rewind(f);
  char line[LINE_MAX_BYTES];
  bool found = false;
  while (!found && read_line(f, line, sizeof line)) {
    char *fld[7];
    size_t n = split_fields(line, fld, 7);
    uint32_t id, gid;
    if (n < 4 || parse_id(fld[2], &id) < 0 || parse_id(fld[3], &gid) < 0) continue;
    if (name ? strcmp(fld[0], name) != 0 : id != uid) continue;
    snprintf(out->name, sizeof out->name, "%s", fld[0]);
    out->uid = id;
    out->gid = gid;
    snprintf(out->home, sizeof out->home, "%s", n >= 6 && fld[5][0] ? fld[5] : "/");
    found = true;
  }
  return found;
}

static bool is_member(const char *members, const char *user) {
  size_t n = strlen(user);
  for (const char *m = members; *m;) {
    size_t len = strcspn(m, ",");
    if (len == n && memcmp(m, user, n) == 0) return true;
    m += len;
    if (*m == ',') m++;
  }
  return false;
}

static void add_group(struct user_ids *out, uint32_t gid) {
  for (size_t i = 0; i < out->ngroups; i++)
    if (out->groups[i] == gid) return;
  if (out->ngroups < USER_MAX_GROUPS) out->groups[out->ngroups++] = gid;
}

/*
 * One pass over the group file f (NULL: none). With name: finds its gid and returns whether it
 * exists. With member: adds every group that lists member.
 */
static bool scan_groups(FILE *f, const char *name, uint32_t *gid, const char *member, struct user_ids *out) {
  if (!f) return false;
  rewind(f);
  char line[LINE_MAX_BYTES];
  bool found = false;
  while (!found && read_line(f, line, sizeof line)) {
    char *fld[4];
    uint32_t id;
    size_t n = split_fields(line, fld, 4);
    if (n < 3 || parse_id(fld[2], &id) < 0) continue;
    if (name && strcmp(fld[0], name) == 0) {
      *gid = id;
      found = true;
    }
    if (member && n == 4 && is_member(fld[3], member)) add_group(out, id);
  }
  return found;
}

static int resolve(const char *spec, FILE *passwd, FILE *group, struct user_ids *out, char *err, size_t errlen) {
  char user_part[NAME_MAX_BYTES];
  const char *colon = strchr(spec, ':');
  size_t user_len = colon ? (size_t)(colon - spec) : strlen(spec);
  const char *group_part = colon ? colon + 1 : NULL;
  if (user_len >= sizeof user_part) {
    snprintf(err, errlen, "unable to find user %.64s...: name too long", spec);
    return -1;
  }
  memcpy(user_part, spec, user_len);
  user_part[user_len] = '\0';

  memset(out, 0, sizeof *out);
  struct passwd_entry pw;
  uint32_t uid = 0;
  bool numeric = user_len == 0 || parse_id(user_part, &uid) == 0;
  bool known = numeric ? find_passwd(passwd, NULL, uid, &pw) : find_passwd(passwd, user_part, 0, &pw);
  if (!known && !numeric) {
    snprintf(err, errlen, "unable to find user %s: no matching entries in /etc/passwd", user_part);
    return -1;
  }
  /* A numeric uid without a passwd entry is allowed, as docker does: gid 0, home "/". */
  out->uid = known ? pw.uid : uid;
  out->gid = known ? pw.gid : 0;
  snprintf(out->home, sizeof out->home, "%s", known ? pw.home : "/");

  if (group_part && parse_id(group_part, &out->gid) < 0 && !scan_groups(group, group_part, &out->gid, NULL, NULL)) {
    snprintf(err, errlen, "unable to find group %s: no matching entries in /etc/group", group_part);
    return -1;
  }
  add_group(out, out->gid);
  if (known) scan_groups(group, NULL, NULL, pw.name, out);
  return 0;
}

int user_resolve(const char *spec, const char *passwd_path, const char *group_path, struct user_ids *out,
                 char *err, size_t errlen) {
  FILE *passwd = fopen(passwd_path, "re");
  FILE *group = fopen(group_path, "re");
  int rc = resolve(spec, passwd, group, out, err, errlen);
  if (passwd) fclose(passwd);
  if (group) fclose(group);
  return rc;
}

/* A read-only stream over text, or NULL for none (fmemopen refuses an empty buffer). */
static FILE *open_text(const char *text, size_t len) { return len ? fmemopen((void *)text, len, "r") : NULL; }

int user_resolve_text(const char *spec, const char *passwd, size_t passwd_len, const char *group, size_t group_len,
                      struct user_ids *out, char *err, size_t errlen) {
  FILE *p = open_text(passwd, passwd_len), *g = open_text(group, group_len);
  if ((passwd_len && !p) || (group_len && !g)) {
    snprintf(err, errlen, "unable to read /etc/passwd or /etc/group: out of memory");
    if (p) fclose(p);
    if (g) fclose(g);
    return -1;
  }
  int rc = resolve(spec, p, g, out, err, errlen);
  if (p) fclose(p);
  if (g) fclose(g);
  return rc;
}
