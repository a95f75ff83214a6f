/* The agent's single-threaded event loop: channel, SIGCHLD and every command's fds, on poll(). */
#ifndef BOXLITE_LOOP_H
#define BOXLITE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

struct agent {
  struct session session;
  int channel;  /* the control channel's fd; -1 while a listener waits for the host */
  int listener; /* a listening socket (vsock with libkrun) whose connections are the channel; -1: none */
  int sigfd;    /* SIGCHLD */
  bool connected;     /* false after EOF: the host is away; retry reading at retry_ns, or accept */
  uint64_t retry_ns;
};

/* Serves the channel until the host sends SHUTDOWN. */
void loop_run(struct agent *a);

#endif
