/* Collecting exited children: ours and the orphans the kernel re-parents to PID 1. */
#ifndef BOXLITE_REAP_H
#define BOXLITE_REAP_H

#include <stdbool.h>
#include <sys/types.h>

/* Blocks SIGCHLD and SIGIO (a port's host came, loop.c) and returns a non-blocking signalfd for them, or -1. */
int reap_signalfd(void);
/* Empties the signalfd (SIGCHLDs coalesce: one wakeup, then reap in a loop); whether a SIGIO was among them. */
bool reap_ack(int sigfd);
/* Reaps one exited child: its pid, 0 when none is ready, -1 when there are no children. */
pid_t reap_one(int *status);
/* Kills every other process and reaps them all, waiting at most timeout_ms. */
void reap_kill_all(int timeout_ms);

#endif
