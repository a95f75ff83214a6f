/* A jailed member's own jail, set up in its process between its clone and its exec
 * (vmm-watch --jailed; docs/security.md, "The jail around each VMM"). */
#ifndef BOXLITE_JAIL_ENTER_H
#define BOXLITE_JAIL_ENTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define JAIL_MAX_OPS 64
#define JAIL_MAX_ENV 16
#define JAIL_MAX_GROUPS 16

enum jail_op_kind { JAIL_RO, JAIL_RO_TRY, JAIL_RW, JAIL_DEV_TRY, JAIL_SYMLINK };

struct jail_op {
  enum jail_op_kind kind;
  const char *path;   /* where it is in the view; for a bind, also where it is on the host */
  const char *target; /* JAIL_SYMLINK: what the link says */
  char *source;       /* a bind's host path with every link resolved (jail_exec), NULL when a -try is missing */
};

/*
 * A member's jail, from the options before its `--` (jail_parse):
 *   --userns                 a user namespace mapping vmm-watch's own uid and gid (boxlite is not
 *                            root), in which no further user namespace can be made
 *   --share-net              keep the host's network (else a network namespace with only loopback)
 *   --uid UID GID GROUPS     become UID:GID with GROUPS (comma-separated, or "-" for none), then
 *                            enter a user namespace of its own in which no other can be made
 *   --caps N[,N...]          keep these capabilities (by number), and no others; default none
 *   --setenv NAME=VALUE      the environment, which is otherwise empty
 *   --ro PATH, --ro-try PATH, --rw PATH, --dev-try PATH   bind PATH at its own path (read-only;
 *                            read-only if it exists; read-write; a device node if it exists)
 *   --symlink TARGET PATH    a link
 * Every view also has its own /proc, a minimal /dev and an empty /tmp.
 */
struct jail_spec {
  unsigned long clone_flags; /* the namespaces the member is cloned into */
  bool userns;
  uid_t outer_uid; /* vmm-watch's, mapped into a --userns namespace */
  gid_t outer_gid;
  bool set_uid;
  uid_t uid;
  gid_t gid;
  gid_t groups[JAIL_MAX_GROUPS];
  size_t group_count;
  uint64_t keep_caps;
  struct jail_op ops[JAIL_MAX_OPS];
  size_t op_count;
  char *env[JAIL_MAX_ENV + 1];
  size_t env_count;
  char **argv; /* the program and its arguments, after `--` */
};

/* Fills spec from a member's command line; on bad usage says why on stderr and returns false. */
bool jail_parse(char **argv, struct jail_spec *spec);

/* In the member's process, cloned with spec->clone_flags: sets its view and identity up, then,
 * with gate_fd >= 0, waits for a byte there (vmm-watch opens the gate; EOF means it will not),
 * and runs the program. Never returns: a step that fails exits 125 and says which. */
_Noreturn void jail_exec(struct jail_spec *spec, int gate_fd);

#endif
