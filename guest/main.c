/* boxlite-guest: PID 1 of a box's VM. Mounts its own filesystems, then serves the host
 * (docs/guest-protocol.md). Nothing of the box is touched before the host's CONFIG, so a
 * booted, idle guest is the same for every box (what a memory template saves). */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "boxns.h"
#include "channel.h"
#include "cmdline.h"
#include "exec.h"
#include "kfile.h"
#include "log.h"
#include "loop.h"
#include "mounts.h"
#include "net.h"
#include "power.h"
#include "reap.h"

/* The name the kernel gives a VM's first NIC, which is the one the host's CONFIG names. */
#define TEMPLATE_NIC "eth0"

static void read_cmdline(struct boot_config *cfg) {
  char text[4096] = "";
  /* open and read rather than stdio: code run once at boot is code TCG translates first. */
  int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) log_errno("open", "/proc/cmdline");
  else {
    ssize_t n = read(fd, text, sizeof text - 1);
    text[n > 0 ? n : 0] = '\0';
    close(fd);
  }
  cmdline_parse(text, cfg);
}

/* Milliseconds since the kernel started: when the agent got its turn, and when it was ready.
 * Logged as integers: printf's floating-point code is a good deal of code for TCG to
 * translate on the way to the first HELLO. */
static unsigned uptime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return (unsigned)ts.tv_sec * 1000u + (unsigned)(ts.tv_nsec / 1000000);
}

/* The port appears once the host's virtio-serial control messages are processed, which can
 * be just after init starts: looked for every millisecond, the boot waits for it no longer
 * than it must. */
static int wait_for_channel(struct agent *agent, int early) {
  char path[300];
  struct timespec tick = {0, 1000 * 1000};
  for (int tries = 0;; tries++) {
    int fd = channel_open(path, sizeof path, &early);
    if (fd >= 0) {
      agent->ready_ms = uptime_ms();
      snprintf(agent->ready_on, sizeof agent->ready_on, "%s", path);
      return fd;
    }
    if (tries == 1000) log_msg("still waiting for the virtio-serial port \"%s\"", CHANNEL_PORT_NAME);
    nanosleep(&tick, NULL);
  }
}

int main(void) {
  unsigned started = uptime_ms();
  int early = channel_open_early();
  /* A write to a closed pipe must be an EPIPE to handle, not a signal. Children reset it
   * (child.c's reset_signals: a signal ignored here must be reset there too). */
  signal(SIGPIPE, SIG_IGN);
  /* A command's child shares the agent's memory until execve (exec.c): non-dumpable, no process of
   * the box may ptrace it (or the agent) in that window without CAP_SYS_PTRACE. execve gives each
   * command a dumpable memory of its own again. */
  prctl(PR_SET_DUMPABLE, 0);
  if (mounts_proc() < 0) log_msg("continuing without /proc");
  /* No uevent helper: nothing in the guest serves uevents, and the kernel's default, a
   * /sbin/hotplug that does not exist, costs a kernel thread and a failed exec per uevent
   * (each of a restored box's disks sends one at WAKE, wake.c). */
  if (kfile_write("/proc/sys/kernel/hotplug", "\n") < 0) log_errno("write", "/proc/sys/kernel/hotplug");
  struct boot_config cfg;
  read_cmdline(&cfg);
  if (cfg.probe) {
    log_msg("probe ok");
    power_off();
  }
  mounts_system();
  net_loopback_later();
  if (cfg.template) {
    /* What every box's CONFIG would do the same way, done once here where it is saved with the
     * template: each restored box then skips it. A cold boot leaves it to CONFIG and to the
     * agent's first idle moment, where it overlaps the host's own work. */
    boxns_prepare();
    net_prepare(TEMPLATE_NIC);
    net_loopback_now();
  }

  static struct agent agent;
  agent.started_ms = started;
  agent.main.listener = -1;
  agent.exec.channel = -1;
  if (cfg.vsock_port != 0) {
    if (early >= 0) close(early); /* a virtio-serial port, not the channel */
    agent.main.channel = -1;
    agent.main.listener = channel_listen_vsock(cfg.vsock_port);
    if (agent.main.listener < 0) {
      log_errno("listen on vsock", NULL);
      power_off();
    }
    agent.ready_ms = uptime_ms();
    snprintf(agent.ready_on, sizeof agent.ready_on, "vsock port %u", cfg.vsock_port);
  } else {
    agent.main.channel = wait_for_channel(&agent, early);
    /* Added with the agent's own port; if its name is not known yet, the loop looks again. */
    agent.exec.channel = channel_open_exec();
  }
  agent.sigfd = reap_signalfd();
  if (agent.sigfd < 0 || loop_init(&agent, &exec_ops) < 0) {
    log_msg("cannot start the agent");
    power_off();
  }
  loop_run(&agent);
  log_msg("shutting down");
  power_shutdown();
}
