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
  bool reap_more; /* a command was reaped: more may be waiting, reaped once its EXIT is out */
  bool connected;     /* false after EOF: the host is away; retry reading at retry_ns, or accept */
  uint64_t retry_ns;
  /* When a virtio port first read EOF with no host seen since (0: none): the connection ends
   * only once that has lasted HOST_GONE_GRACE_NS (loop.c says why). */
  uint64_t away_since_ns;
  /* Said on the console the first time the agent is idle, not on the way to the host's first
   * frames (under TCG formatting and writing a line costs a millisecond or two at boot):
   * where it is ready ("" once said, or for none), when it started and was ready (ms after
   * boot), and whether the applied CONFIG was told. */
  char ready_on[300];
  unsigned started_ms, ready_ms;
  bool config_told;
};

/* Serves the channel until the host sends SHUTDOWN. */
void loop_run(struct agent *a);

#endif
