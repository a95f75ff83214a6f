/* The box's own namespaces and cgroup inside the VM (docs/security.md, "Inside the VM"): every
 * command of the box runs in one pid, ipc and uts namespace apart from the agent's, held by a
 * small init (pid 1 there, reaping the box's orphans), and in one cgroup that caps its processes,
 * lets it open only docker's default devices and schedules it as one group. */
#ifndef BOXLITE_BOXNS_H
#define BOXLITE_BOXNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Where the agent mounts the box's cgroup hierarchy: in its own /run, outside the container's root. */
#define BOXNS_CGROUP_DIR "/run/boxlite/cgroup"

/* Makes the box's cgroup now, before any CONFIG: a template's agent does, so that every box
 * restored from it starts with it made (docs/templates.md). A failure is logged; boxns_start
 * then tries again and reports it. */
void boxns_prepare(void);
/* Starts the box's init (when it is not running) and, the first time, its cgroup; the agent's
 * later children are born in the box's pid namespace. Returns 0, or -1 with err set. */
int boxns_start(char *err, size_t errlen);
/* In a command's child, before its credentials change: joins the box's ipc and uts namespaces
 * and its cgroup. Returns 0, or -1 with what failed in what (errno set). */
int boxns_enter(const char **what);
/* The agent reaped pid: when it was the box's init, the next command starts another. */
void boxns_reaped(pid_t pid);

#endif
