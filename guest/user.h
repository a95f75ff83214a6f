/* Resolving EXEC's `user` ("", name, uid, name:group, uid:gid, ...) from passwd/group files. */
#ifndef BOXLITE_USER_H
#define BOXLITE_USER_H

#include <stddef.h>
#include <stdint.h>

#define USER_MAX_GROUPS 64
#define USER_HOME_MAX 1024

struct user_ids {
  uint32_t uid, gid;
  size_t ngroups; /* the primary gid first, then /etc/group memberships */
  uint32_t groups[USER_MAX_GROUPS];
  char home[USER_HOME_MAX]; /* from passwd, else "/" */
};

/*
 * Resolves spec against the given passwd and group files (missing files count as empty).
 * Returns 0, or -1 with a message such as
 * "unable to find user bob: no matching entries in /etc/passwd" in err.
 */
int user_resolve(const char *spec, const char *passwd_path, const char *group_path, struct user_ids *out,
                 char *err, size_t errlen);
/* The same against the files' texts in memory (length 0: the file is missing or empty). */
int user_resolve_text(const char *spec, const char *passwd, size_t passwd_len, const char *group, size_t group_len,
                      struct user_ids *out, char *err, size_t errlen);

#endif
