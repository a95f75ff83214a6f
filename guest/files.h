/*
 * Copying files as tar streams (docs/guest-protocol.md, "Copying files"): FILES_OUT writes
 * a tar of a path, FILES_IN extracts one. Paths are resolved against a root directory fd;
 * the agent calls these in a child chrooted into the container, where the root is "/" and
 * no symlink can lead out. They do not chroot themselves, so tests run them on temp dirs.
 */
#ifndef BOXLITE_FILES_H
#define BOXLITE_FILES_H

#include <stdbool.h>

#include "agent.h"

/* EXIT codes of the spec. */
enum files_code {
  FILES_OK = 0,
  FILES_FAILED = 1,  /* a corrupt tar, a full disk, any other error */
  FILES_MISSING = 2, /* a path does not exist */
  FILES_REFUSED = 3, /* an escaping entry, no_overwrite, a directory onto a file */
};

struct files_spec {
  const char *path;     /* absolute, resolved inside the root */
  bool follow_symlinks; /* FILES_OUT: follow path itself when it is a symlink (default false) */
  bool include_parent;  /* FILES_OUT: names start with basename(path) (default true) */
  bool contents;        /* FILES_IN: the tar holds a directory's contents (default false) */
  bool no_overwrite;    /* FILES_IN: refuse to replace an existing non-directory (default false) */
  bool as_file;         /* FILES_IN: a tar of one top-level non-directory becomes path, unless path is a
                           directory; any other tar is extracted into path as with contents (default false) */
};

struct files_result {
  int code;                   /* enum files_code */
  char error[EXIT_ERROR_MAX]; /* what failed, when code is not FILES_OK */
};

/* Writes a tar of spec->path to out_fd (blocking writes). Returns res->code. */
int files_out(int rootfd, const struct files_spec *spec, int out_fd, struct files_result *res);

/* Extracts the tar read from in_fd (up to its end-of-archive block). Returns res->code. */
int files_in(int rootfd, const struct files_spec *spec, int in_fd, struct files_result *res);

#endif
