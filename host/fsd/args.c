#include "args.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A name the share's root may show alone: one path component, never `.` or `..`. */
static bool is_file_name(const char *name) {
  return name[0] != '\0' && strchr(name, '/') == NULL && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

/*
 * Decodes a part in place: a path may hold ':' (and so '%'), given as %3A (and %25). False for
 * any other '%', so that a part means one thing only.
 */
static bool unescape(char *part) {
  char *out = part;
  for (const char *in = part; *in; out++) {
    if (*in != '%') {
      *out = *in++;
    } else if (strncmp(in, "%25", 3) == 0) {
      *out = '%';
      in += 3;
    } else if (strncasecmp(in, "%3A", 3) == 0) {
      *out = ':';
      in += 3;
    } else {
      return false;
    }
  }
  *out = '\0';
  return true;
}

int args_parse_share(char *value, struct share_spec *share, char *err, size_t errlen) {
  char copy[512]; /* the value as given, for messages: strsep cuts it up */
  snprintf(copy, sizeof copy, "%s", value);
  share->name = strsep(&value, ":");
  char *root = value ? strsep(&value, ":") : NULL;
  share->root = root;
  if (share->name[0] == '\0' || !root || !unescape(root) || root[0] != '/') {
    snprintf(err, errlen, "--share %s: want NAME:ROOT[:ro][:file=FILE] with an absolute ROOT (':' as %%3A, '%%' as %%25)", copy);
    return -1;
  }
  while (value) {
    char *option = strsep(&value, ":");
    if (strcmp(option, "ro") == 0 && !share->read_only) {
      share->read_only = true;
    } else if (strncmp(option, "file=", 5) == 0 && !share->only_name && unescape(option + 5) && is_file_name(option + 5)) {
      share->only_name = option + 5;
    } else {
      snprintf(err, errlen, "--share %s: bad or repeated option \"%s\" (want ro or file=FILE)", copy, option);
      return -1;
    }
  }
  return 0;
}

/* `UID:GID`, both decimal; false when it is anything else. */
static bool parse_owner(const char *value, long *uid, long *gid) {
  char *end = NULL;
  errno = 0;
  *uid = strtol(value, &end, 10);
  if (end == value || *end != ':' || *uid < 0 || errno != 0) return false;
  const char *rest = end + 1;
  *gid = strtol(rest, &end, 10);
  return end != rest && *end == '\0' && *gid >= 0 && errno == 0;
}

int args_parse(int argc, char **argv, struct fsd_args *a, char *err, size_t errlen) {
  *a = (struct fsd_args){.socket_uid = -1, .socket_gid = -1};
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--verbose") == 0) {
      a->verbose = true;
      continue;
    }
    if (strcmp(argv[i], "--socket-owner") == 0) {
      if (i + 1 == argc || !parse_owner(argv[i + 1], &a->socket_uid, &a->socket_gid)) {
        snprintf(err, errlen, "--socket-owner needs a value: UID:GID");
        return -1;
      }
      i++;
      continue;
    }
    bool socket = strcmp(argv[i], "--socket") == 0;
    if (!socket && strcmp(argv[i], "--share") != 0) {
      snprintf(err, errlen, "unknown argument \"%s\"", argv[i]);
      return -1;
    }
    if (i + 1 == argc) {
      snprintf(err, errlen, socket ? "--socket needs a value: a path" : "--share needs a value: NAME:ROOT[:ro][:file=FILE]");
      return -1;
    }
    if (socket) {
      if (a->socket_path || argv[i + 1][0] == '\0') {
        snprintf(err, errlen, "--socket is given twice, or empty");
        return -1;
      }
      a->socket_path = argv[++i];
      continue;
    }
    if (a->share_count == ARGS_MAX_SHARES) {
      snprintf(err, errlen, "more than %d shares", ARGS_MAX_SHARES);
      return -1;
    }
    struct share_spec *share = &a->shares[a->share_count];
    if (args_parse_share(argv[++i], share, err, errlen) < 0) return -1;
    for (size_t k = 0; k < a->share_count; k++) {
      if (strcmp(a->shares[k].name, share->name) == 0) {
        snprintf(err, errlen, "--share: name %s is given twice", share->name);
        return -1;
      }
    }
    a->share_count++;
  }
  if (a->share_count == 0) {
    snprintf(err, errlen, "no --share given");
    return -1;
  }
  if (!a->socket_path) {
    snprintf(err, errlen, "no --socket given");
    return -1;
  }
  return 0;
}
