/* Running EXEC's command: fork, set up the child in the container, collect its exit. */
#ifndef BOXLITE_EXEC_H
#define BOXLITE_EXEC_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"
#include "user.h"

/* The session_ops of the agent: real processes, and CONFIG applied to the real system. */
extern const struct session_ops exec_ops;

/* Whether the next command's output pipes should be made now (a command ended and none are made). */
bool exec_stdio_wanted(void);
/* Makes them: called once what the agent had to send went out (a command's EXIT). */
void exec_prepare_stdio(void);

/* st's process was reaped with status at now_ns: fills code, signal, error and exit_ns. */
void exec_finish(struct stream *st, int status, uint64_t now_ns);

/* Why a command's child could not exec: its exit code (126 or 127) and the reason. The child
 * shares the agent's memory until execve (exec.c), so it writes this in place before _exit,
 * and the agent reads it once the child is gone or has exec'd: no pipe needed. */
struct child_failure {
  int code; /* 0: the child exec'd */
  char message[EXIT_ERROR_MAX];
};

/* What the child needs (prepared by the parent, where errors are reportable). */
struct child_plan {
  const struct exec_request *req;
  const struct user_ids *user;
  char **envp;
  int stdio[3]; /* fds for the child's 0, 1, 2; stdio[0] < 0 means /dev/null */
  int tty;      /* the PTY slave, or -1 */
  uint64_t caps; /* the box's capabilities, those the running kernel has (caps.h) */
  int last_cap;  /* the running kernel's highest capability */
  struct child_failure *failure; /* filled when setup or exec fails */
};

/* Runs in the command's child, in the agent's memory: never returns. */
_Noreturn void child_run(const struct child_plan *plan);

/* What the child of FILES_OUT / FILES_IN needs: the tar's pipe end and the error pipe. */
struct files_plan {
  const struct files_request *req;
  int data;    /* FILES_OUT writes the tar here, FILES_IN reads it from here */
  int errpipe; /* write end: [exit code byte][message] when the copy fails */
};

/* Runs in the forked child of a copy: chroots into the container, then files_child_finish. */
_Noreturn void files_child_run(const struct files_plan *plan);
/* Runs the copy against rootfd, reports a failure on errpipe and exits with the spec's code
 * (also what tests run in a child of their own, without the chroot). */
_Noreturn void files_child_finish(int rootfd, const struct files_request *req, int data, int errpipe);

#endif
