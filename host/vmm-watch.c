/*
 * vmm-watch: runs a VMM as its child and kills it when boxlite dies.
 *
 * Usage: vmm-watch FD -- PROGRAM [ARG...]   (boxlite passes FD 0: its stdin pipe)
 *
 * FD is the read end of a pipe whose write end only the boxlite process holds. When
 * that process dies — even by SIGKILL — the pipe reports EOF/POLLHUP, and vmm-watch
 * sends SIGTERM to the VMM, then SIGKILL after a grace period. PR_SET_PDEATHSIG would
 * be simpler but is not delivered on every host kernel (it is not on our CI's), and a
 * pipe's EOF always is. The same pattern as the reference boxlite's shim watchdog.
 *
 * vmm-watch forwards SIGTERM/SIGINT/SIGHUP to the VMM and exits with the VMM's status
 * (128+N when it was killed by signal N), so its caller can treat it as the VMM.
 *
 * It starts a new session, so the VMM and vmm-watch form one process group whose id is
 * vmm-watch's pid: killing that group (SIGKILL) ends both at once, and a Ctrl-C typed in
 * boxlite's terminal reaches boxlite (which forwards it into the box), not the VMM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define GRACE_MS 3000

static int exit_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/* Waits for the child up to timeout_ms; returns its status or -1 on timeout. */
static int wait_child(pid_t child, int timeout_ms) {
  for (int waited = 0;; waited += 10) {
    int status;
    pid_t done = waitpid(child, &status, WNOHANG);
    if (done == child) return status;
    if (done < 0 && errno != EINTR) return 0;
    if (waited >= timeout_ms) return -1;
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
}

static int stop_child(pid_t child) {
  kill(child, SIGTERM);
  int status = wait_child(child, GRACE_MS);
  if (status >= 0) return exit_status(status);
  kill(child, SIGKILL);
  return exit_status(wait_child(child, 60 * 1000));
}

int main(int argc, char **argv) {
  if (argc < 4 || strcmp(argv[2], "--") != 0) {
    fprintf(stderr, "usage: vmm-watch FD -- PROGRAM [ARG...]\n");
    return 125;
  }
  int watch_fd = atoi(argv[1]);
  if (setsid() < 0) { perror("vmm-watch: setsid"); return 125; }

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGHUP);
  if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) { perror("vmm-watch: sigprocmask"); return 125; }
  int sig_fd = signalfd(-1, &mask, SFD_CLOEXEC);
  if (sig_fd < 0) { perror("vmm-watch: signalfd"); return 125; }

  pid_t child = fork();
  if (child < 0) { perror("vmm-watch: fork"); return 125; }
  if (child == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    /* The VMM must not hold the watch pipe, or boxlite's death would go unnoticed. */
    int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (null_fd < 0 || dup2(null_fd, watch_fd) < 0) { perror("vmm-watch: /dev/null"); _exit(125); }
    execvp(argv[3], &argv[3]);
    fprintf(stderr, "vmm-watch: exec %s: %s\n", argv[3], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }

  struct pollfd fds[2] = {{.fd = sig_fd, .events = POLLIN}, {.fd = watch_fd, .events = POLLIN}};
  for (;;) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      perror("vmm-watch: poll");
      return stop_child(child);
    }
    if (fds[1].revents) {
      char byte;
      ssize_t got = read(watch_fd, &byte, 1);
      if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN)) return stop_child(child);
    }
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo info;
      if (read(sig_fd, &info, sizeof info) != sizeof info) continue;
      if (info.ssi_signo != SIGCHLD) { kill(child, (int)info.ssi_signo); continue; }
      int status;
      pid_t done = waitpid(child, &status, WNOHANG);
      if (done == child) return exit_status(status);
    }
  }
}
