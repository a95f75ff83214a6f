/* The agent's single-threaded event loop: its channels, SIGCHLD and every command's fds, on poll(). */
#ifndef BOXLITE_LOOP_H
#define BOXLITE_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include "session.h"

/* One channel to the host and its session. */
struct link {
  struct session session;
  int channel;  /* the channel's fd; -1 while a listener waits for the host, or when there is no such port */
  int listener; /* a listening socket (vsock with libkrun) whose connections are the channel; -1: none */
  bool connected; /* false after EOF: the host is away; retry reading at retry_ns, or accept */
  uint64_t retry_ns;
  /* When a virtio port first read EOF with no host seen since (0: none): the connection ends
   * only once that has lasted HOST_GONE_GRACE_NS (loop.c says why). */
  uint64_t away_since_ns;
  /* A host's arrival is told by SIGIO (the port is O_ASYNC while nobody is there) rather than
   * looked for every RECONNECT_POLL_NS: the exec port, which is mostly without a host, must
   * not wake an idle box 100 times a second. */
  bool wait_sigio;
  bool async; /* O_ASYNC is on */
};

struct agent {
  /* The box's owner's channel (agent0): CONFIG, the box's lifecycle, its commands. */
  struct link main;
  /* The exec port (exec0; channel -1 when the VM has none): commands only, for the one
   * process at a time that dials it directly, past the owner (docs/guest-protocol.md). */
  struct link exec;
  int sigfd;      /* SIGCHLD and SIGIO */
  bool reap_more; /* a command was reaped: more may be waiting, reaped once its EXIT is out */
  /* Said on the console the first time the agent is idle, not on the way to the host's first
   * frames (under TCG formatting and writing a line costs a millisecond or two at boot):
   * where it is ready ("" once said, or for none), when it started and was ready (ms after
   * boot), and whether the applied CONFIG was told. */
  char ready_on[300];
  unsigned started_ms, ready_ms;
  bool config_told;
};

/* Sets up both links' sessions (exec's served only when its channel is given): 0, or -1. */
int loop_init(struct agent *a, const struct session_ops *ops);

/* Serves the channels until the host sends SHUTDOWN on the main one. */
void loop_run(struct agent *a);

#endif
