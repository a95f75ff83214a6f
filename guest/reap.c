#include "reap.h"

#include <errno.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

int reap_signalfd(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  /* Blocked, it is queued for the signalfd even in PID 1, which the kernel spares the signals it has no handler for. */
  sigaddset(&set, SIGIO);
  if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
    log_errno("sigprocmask", NULL);
    return -1;
  }
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) log_errno("signalfd", NULL);
  return fd;
}

bool reap_ack(int sigfd) {
  struct signalfd_siginfo info[8];
  bool sigio = false;
  ssize_t n;
  while ((n = read(sigfd, info, sizeof info)) > 0)
    for (size_t i = 0; i < (size_t)n / sizeof info[0]; i++)
      if (info[i].ssi_signo == SIGIO) sigio = true;
  return sigio;
}

pid_t reap_one(int *status) {
  for (;;) {
    pid_t pid = waitpid(-1, status, WNOHANG);
    if (pid >= 0) return pid;
    if (errno == EINTR) continue;
    if (errno != ECHILD) log_errno("waitpid", NULL);
    return -1;
  }
}

void reap_kill_all(int timeout_ms) {
  /* kill(-1) reaches every process but PID 1 itself. */
  if (kill(-1, SIGKILL) < 0 && errno != ESRCH) log_errno("kill", "-1");
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int waited = 0; waited <= timeout_ms; waited += 10) {
    int status;
    pid_t pid;
    while ((pid = reap_one(&status)) > 0) {
    }
    if (pid < 0) return;
    nanosleep(&tick, NULL);
  }
  log_msg("some processes did not exit after SIGKILL");
}
