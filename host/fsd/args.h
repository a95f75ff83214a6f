/* fsd's command line: `fsd [--verbose] --socket SOCKET [--socket-owner UID:GID]
 * --share NAME:ROOT[:ro][:file=FILE] …`, checked whole before anything starts. */
#ifndef BOXLITE_FSD_ARGS_H
#define BOXLITE_FSD_ARGS_H

#include <stdbool.h>
#include <stddef.h>

/* A box has a handful of volumes; this bounds what one process holds open. */
#define ARGS_MAX_SHARES 64

struct share_spec {
  const char *name; /* the share's entry in the device's root; the mux checks its characters */
  const char *root; /* absolute */
  bool read_only;
  const char *only_name; /* NULL: the whole directory */
};

struct fsd_args {
  const char *socket_path; /* the one vhost-user-fs device's */
  struct share_spec shares[ARGS_MAX_SHARES];
  size_t share_count;
  bool verbose; /* the vhost-user conversation on stderr */
  /* Who may connect (the socket is 0600): a jailed VMM's uid, when fsd runs as another; -1: fsd's own. */
  long socket_uid, socket_gid;
};

/* Reads argv into a; the --share values are split in place. 0, or -1 with one line naming
 * the bad argument in err. */
int args_parse(int argc, char **argv, struct fsd_args *a, char *err, size_t errlen);

/* Splits one --share value (NAME:ROOT[:ro][:file=FILE]) in place; also the FUSE test harness's. */
int args_parse_share(char *value, struct share_spec *share, char *err, size_t errlen);

#endif
