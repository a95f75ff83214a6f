/* Running EXEC's command: fork, set up the child in the container, collect its exit. */
#ifndef BOXLITE_EXEC_H
#define BOXLITE_EXEC_H

#include <stdint.h>

#include "session.h"
#include "user.h"

/* The session_ops of the agent: real processes. */
extern const struct session_ops exec_ops;

/* st's process was reaped with status at now_ns: fills code, signal, error and exit_ns. */
void exec_finish(struct stream *st, int status, uint64_t now_ns);

/* What the child needs after fork (prepared by the parent, where errors are reportable). */
struct child_plan {
  const struct exec_request *req;
  const struct user_ids *user;
  char **envp;
  int stdio[3]; /* fds for the child's 0, 1, 2; stdio[0] < 0 means /dev/null */
  int tty;      /* the PTY slave, or -1 */
  int errpipe;  /* write end: [exit code byte][message] when setup or exec fails */
};

/* Runs in the forked child: never returns. */
_Noreturn void child_run(const struct child_plan *plan);

#endif
