/* boxlite-guest: PID 1 of a box's VM. Mounts its own filesystems, then serves the host
 * (docs/guest-protocol.md). Nothing of the box is touched before the host's CONFIG, so a
 * booted, idle guest is the same for every box (what a memory template saves). */
#include <signal.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "channel.h"
#include "cmdline.h"
#include "exec.h"
#include "log.h"
#include "loop.h"
#include "mounts.h"
#include "net.h"
#include "power.h"
#include "reap.h"
#include "wake.h"

static void read_cmdline(struct boot_config *cfg) {
  char text[4096] = "";
  FILE *f = fopen("/proc/cmdline", "re");
  if (!f) log_errno("open", "/proc/cmdline");
  else {
    size_t n = fread(text, 1, sizeof text - 1, f);
    text[n] = '\0';
    fclose(f);
  }
  cmdline_parse(text, cfg);
}

/* Seconds since the kernel started: when the agent got its turn, and when it was ready. */
static double uptime(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The port appears once the host's virtio-serial control messages are processed, which can
 * be just after init starts. */
static int wait_for_channel(double started) {
  char path[300];
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int tries = 0;; tries++) {
    int fd = channel_open(path, sizeof path);
    if (fd >= 0) {
      log_msg("agent %s ready on %s (started at %.3f s, ready at %.3f s after boot)", BOXLITE_GUEST_VERSION, path,
              started, uptime());
      return fd;
    }
    if (tries == 100) log_msg("still waiting for the virtio-serial port \"%s\"", CHANNEL_PORT_NAME);
    nanosleep(&tick, NULL);
  }
}

int main(void) {
  /* A write to a closed pipe must be an EPIPE to handle, not a signal. Children reset it. */
  double started = uptime();
  signal(SIGPIPE, SIG_IGN);
  if (mounts_proc() < 0) log_msg("continuing without /proc");
  struct boot_config cfg;
  read_cmdline(&cfg);
  if (cfg.probe) {
    log_msg("probe ok");
    power_off();
  }
  mounts_system();
  net_up_loopback();
  if (cfg.template) {
    /* The stand-in disks a template boots with: a restored box binds its own (docs/templates.md). */
    char why[300];
    if (wake_release_disks(why, sizeof why) < 0) log_msg("template: %s", why);
  }

  static struct agent agent;
  agent.sigfd = reap_signalfd();
  if (agent.sigfd < 0 || session_init(&agent.session, &exec_ops, &agent) < 0) {
    log_msg("cannot start the agent");
    power_off();
  }
  agent.listener = -1;
  if (cfg.vsock_port != 0) {
    agent.channel = -1;
    agent.listener = channel_listen_vsock(cfg.vsock_port);
    if (agent.listener < 0) {
      log_errno("listen on vsock", NULL);
      power_off();
    }
    log_msg("agent %s ready on vsock port %u (started at %.3f s, ready at %.3f s after boot)", BOXLITE_GUEST_VERSION,
            cfg.vsock_port, started, uptime());
  } else {
    agent.channel = wait_for_channel(started);
  }
  loop_run(&agent);
  log_msg("shutting down");
  power_shutdown();
}
