/* The agent's single-threaded event loop: channel, SIGCHLD and every command's fds, on poll(). */
#ifndef BOXLITE_LOOP_H
#define BOXLITE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

struct agent {
  struct session session;
  int channel;  /* the control channel's fd */
  int sigfd;    /* SIGCHLD */
  bool connected;     /* false after EOF: the host is away, retry reading at retry_ns */
  uint64_t retry_ns;
};

/* Serves the channel until the host sends SHUTDOWN. */
void loop_run(struct agent *a);

#endif
