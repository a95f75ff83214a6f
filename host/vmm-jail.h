/* The jail's part of vmm-watch that acts on vmm-watch itself (cgroups, rlimits, closed fds),
 * and what it reads of /proc. */
#ifndef BOXLITE_VMM_JAIL_H
#define BOXLITE_VMM_JAIL_H

#include <stdbool.h>

#define START_TIME_MAX 32
#include <sys/types.h>

/* Closes every fd from `from` up. */
void close_from(int from);
/* The same, but `keep` (when not -1) stays open. */
void close_from_except(int from, int keep);
/* Moves the caller into the cgroup of `procs` (cgroup.procs or v1's tasks); false (said why on stderr) if it cannot. */
bool join_cgroup(const char *procs);
/* Where the members of a v2 cgroup box are forked (--cgroup-dir): the cgroup directory open
 * for clone3's CLONE_INTO_CGROUP, and its cgroup.procs for kernels without it. */
struct cgroup_target {
  int fd;            /* -1: none (v1, or no cgroup): members are forked where vmm-watch is */
  const char *procs; /* DIR/cgroup.procs */
};
/* Opens DIR for fork_member; false (said why on stderr) if it cannot. */
bool open_cgroup_dir(const char *dir, struct cgroup_target *t);
/* fork(), the child born in t's cgroup and in new `namespaces` (CLONE_NEW* flags, 0 for none).
 * The first time CLONE_INTO_CGROUP is refused (a kernel before 5.7), vmm-watch joins the cgroup
 * itself instead and forks plainly from then on. */
pid_t fork_member(struct cgroup_target *t, unsigned long namespaces);
/* Sets soft and hard limit NAME (nofile, core, fsize) to N, from `NAME=N`; false (said why) if it cannot. */
bool set_rlimit(const char *spec);

/* Copies field 22 of /proc/PID/stat (start time, in clock ticks after boot) into out; -errno. */
int read_start_time(pid_t pid, char out[START_TIME_MAX]);

#endif
