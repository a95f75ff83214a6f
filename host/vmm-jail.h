/* The jail's part of vmm-watch (cgroups, rlimits, closed fds, finding what bwrap runs), and
 * what it reads of /proc. */
#ifndef BOXLITE_VMM_JAIL_H
#define BOXLITE_VMM_JAIL_H

#include <stdbool.h>

#define START_TIME_MAX 32
#include <sys/types.h>

/* The one process bwrap `pid` runs (--as-pid-1), or -1 when bwrap ends or makes none in time. */
pid_t find_jailed_child(pid_t pid);
/* Closes every fd from `from` up. */
void close_from(int from);
/* Moves the caller into the cgroup of `procs` (cgroup.procs or v1's tasks); false (said why on stderr) if it cannot. */
bool join_cgroup(const char *procs);
/* Sets soft and hard limit NAME (nofile, core, fsize) to N, from `NAME=N`; false (said why) if it cannot. */
bool set_rlimit(const char *spec);

/* Copies field 22 of /proc/PID/stat (start time, in clock ticks after boot) into out; -errno. */
int read_start_time(pid_t pid, char out[START_TIME_MAX]);

#endif
