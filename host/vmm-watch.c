/*
 * vmm-watch: runs a box's VMM and its helper processes as one group, and ends the whole
 * group when boxlite dies.
 *
 * Usage: vmm-watch [--cgroup PROCS]... [--cgroup-dir DIR] [--rlimit NAME=N]... [--jailed] [--vmm-fd N] FD
 *                  [--helper NAME READY_PATH READY_MS ARGC PROGRAM [ARG...]]... -- PROGRAM [ARG...]
 *
 * The jail's options (docs/security.md; vmm-jail.c), applied before anything starts, so
 * every member inherits them: --cgroup PROCS joins that cgroup (one per v1 hierarchy);
 * --cgroup-dir DIR forks each member into that v2 cgroup instead (vmm-jail.c, fork_member);
 * --rlimit NAME=N sets a limit (nofile, core, fsize); --jailed says each member's command line
 * starts with its jail's options, up to a `--` (jail-enter.h): the member is cloned into new
 * namespaces as their pid 1, sets up its own view and identity, and runs its program with every
 * fd above 2 closed. With helpers, the jailed VMM is started first and sets up while they
 * start, held before its exec until they are ready (by a pipe at its fd 3).
 * --vmm-fd N: fd N, open in vmm-watch, is the VMM's alone (a saved VM's state, which QEMU
 * reads as `fd:N`): the VMM keeps it at that number, jailed or not; helpers never get it, and
 * vmm-watch closes its own copy once the VMM started.
 *
 * FD (boxlite passes 3) is one end of a socket pair whose other end only the boxlite
 * process holds. When that process dies — even by SIGKILL — FD reports EOF, and
 * vmm-watch stops the group. PR_SET_PDEATHSIG would be simpler but is not delivered on
 * every host kernel (it is not on our CI's), and EOF always is. The same pattern as the
 * reference boxlite's shim watchdog.
 *
 * Each --helper (a network stack, a file server) is started in order, and must create
 * READY_PATH (its socket) within READY_MS before the next one starts; then the VMM
 * (PROGRAM) starts, and finds them serving. ARGC counts PROGRAM and its ARGs, so any
 * argument may be given, "--" included. Helpers get /dev/null as stdin (the VMM's stdin
 * is vmm-watch's own: krun's configuration arrives there) and share vmm-watch's stderr.
 *
 * Reports, one line each on stdout (every member's stdout is /dev/null):
 *   started NAME PID START_TIME     a helper, or the VMM (NAME "vmm"), was started.
 *                                   START_TIME is field 22 of /proc/PID/stat, read while
 *                                   the child cannot have been reaped, so a reused pid
 *                                   can never be taken for it.
 *   exited NAME PID code|signal N   a helper ended while the VMM ran: the group is stopped.
 * After "exited", vmm-watch waits up to ACK_MS for one byte on FD — boxlite took note of
 * why — before it stops the VMM, so boxlite learns the reason before the guest drops.
 *
 * Stopping the group is SIGTERM to every member (SIGKILL to a held VMM), then SIGKILL after
 * GRACE_MS: when FD reports EOF, a helper ends or is not ready in time; when the VMM ends its
 * helpers are stopped. SIGTERM, SIGINT and SIGHUP are forwarded to the VMM (before it started
 * they stop the group). SIGUSR1 kills the group at once: SIGKILL to every member, then
 * vmm-watch exits once all of it is reaped. A helper's own children are its business.
 *
 * Exit status: the VMM's (128+N when it was killed by signal N); 125 when vmm-watch failed
 * (bad usage, a helper that was not ready), with why on stderr; 128+N when signal N stopped
 * the group before the VMM started.
 *
 * It starts a new session, so vmm-watch and its members form one process group whose id
 * is vmm-watch's pid: killing that group (SIGKILL) ends them all at once, and a Ctrl-C
 * typed in boxlite's terminal reaches boxlite (which forwards it into the box), not them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jail-enter.h"
#include "vmm-jail.h"

#define GRACE_MS 3000
#define ACK_MS 1000
#define POLL_MS 10
/* While a helper's ready path is watched with inotify, the wait still looks this often. */
#define WATCHED_POLL_MS 100
#define MAX_MEMBERS 17 /* 16 helpers and the VMM */

struct member {
  const char *name;
  char **argv;
  const char *ready_path; /* helpers only */
  int ready_ms;
  struct jail_spec *jail; /* --jailed: its jail, from its command line */
  pid_t pid;
  char start_time[START_TIME_MAX]; /* field 22 of its /proc stat */
  bool running;
  bool held; /* the jailed VMM, set up but held before its exec until its helpers are ready */
  int status; /* from waitpid, once it ended */
};

struct group {
  struct member members[MAX_MEMBERS];
  size_t count; /* the VMM is the last member */
  int watch_fd;
  int vmm_fd; /* --vmm-fd, or -1 */
  int sig_fd;
  /* Opened before any member is cloned: a jailed member's own mount namespace would show its
   * /dev/null as one from a filesystem it no longer sees ("/null"). */
  int null_fd;
  sigset_t mask;
  bool jailed;
  struct cgroup_target cgroup; /* --cgroup-dir: where members are forked */
};

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int exit_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

/* Forks and execs m; the child holds neither the lifeline nor the report pipe. With `gate` (the
 * held, jailed VMM) its fd 3 is a pipe whose write end goes to *gate, and open_gate reports it. */
static int start_member(struct group *g, struct member *m, bool is_vmm, int *gate) {
  int held[2] = {-1, -1};
  if (gate != NULL && pipe2(held, O_CLOEXEC) < 0) return -errno;
  pid_t pid = fork_member(&g->cgroup, m->jail == NULL ? 0 : m->jail->clone_flags);
  if (pid < 0) return -errno;
  if (pid == 0) {
    sigprocmask(SIG_UNBLOCK, &g->mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(held[0] >= 0 ? held[0] : g->null_fd, g->watch_fd) < 0 || dup2(g->null_fd, STDOUT_FILENO) < 0 ||
        (!is_vmm && dup2(g->null_fd, STDIN_FILENO) < 0)) {
      fprintf(stderr, "vmm-watch: /dev/null: %s\n", strerror(errno));
      _exit(125);
    }
    if (m->jail != NULL) {
      close_from_except(gate != NULL ? g->watch_fd + 1 : g->watch_fd, is_vmm ? g->vmm_fd : -1);
      jail_exec(m->jail, gate != NULL ? g->watch_fd : -1);
    }
    if (!is_vmm && g->vmm_fd >= 0) close(g->vmm_fd);
    execvp(m->argv[0], m->argv);
    fprintf(stderr, "vmm-watch: exec %s: %s\n", m->argv[0], strerror(errno));
    _exit(errno == ENOENT ? 127 : 126);
  }
  /* The VMM has its copy: the watchdog drops its own before the VMM is reported started, so
   * nothing but the VMM holds the file once the owner hears of it (and helpers forked later
   * never see it). */
  if (is_vmm && g->vmm_fd >= 0) {
    close(g->vmm_fd);
    g->vmm_fd = -1;
  }
  if (gate != NULL) {
    close(held[0]);
    *gate = held[1];
    m->held = true;
  }
  m->pid = pid;
  m->running = true;
  int err = read_start_time(pid, m->start_time);
  /* One write below PIPE_BUF is atomic; a closed pipe (boxlite gone) is noticed on FD. */
  if (err == 0 && gate == NULL) dprintf(STDOUT_FILENO, "started %s %d %s\n", m->name, (int)pid, m->start_time);
  return err;
}

/* Lets the held VMM run (its helpers are ready), and reports it started. */
static void open_gate(struct member *vmm, int gate) {
  vmm->held = false;
  if (write(gate, "1", 1) != 1) fprintf(stderr, "vmm-watch: opening the VMM's gate: %s\n", strerror(errno));
  close(gate);
  dprintf(STDOUT_FILENO, "started %s %d %s\n", vmm->name, (int)vmm->pid, vmm->start_time);
}

/* Reaps every child that ended, marking its member. */
static void reap(struct group *g) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
    for (size_t i = 0; i < g->count; i++) {
      if (g->members[i].pid == pid) {
        g->members[i].running = false;
        g->members[i].status = status;
      }
    }
  }
}

/* Waits up to timeout_ms for a signal, SIGCHLD most often, and consumes it: a group being stopped
 * is reaped as soon as a member ends, not at the next tick. */
static void wait_signal(struct group *g, int64_t timeout_ms) {
  struct pollfd fd = {.fd = g->sig_fd, .events = POLLIN};
  struct signalfd_siginfo info;
  if (poll(&fd, 1, timeout_ms > 0 ? (int)timeout_ms : 0) > 0 && read(g->sig_fd, &info, sizeof info) < 0)
    fprintf(stderr, "vmm-watch: reading a signal: %s\n", strerror(errno));
}

static bool any_running(const struct group *g) {
  for (size_t i = 0; i < g->count; i++)
    if (g->members[i].running) return true;
  return false;
}

/* SIGTERM to every running member, SIGKILL to those still there after GRACE_MS; all reaped. */
static void stop_group(struct group *g) {
  for (size_t i = 0; i < g->count; i++)
    /* A held VMM never ran, and as a pid namespace's init it would ignore SIGTERM. */
    if (g->members[i].running) kill(g->members[i].pid, g->members[i].held ? SIGKILL : SIGTERM);
  int64_t deadline = now_ms() + GRACE_MS;
  for (reap(g); any_running(g) && now_ms() < deadline; reap(g)) wait_signal(g, deadline - now_ms());
  for (size_t i = 0; i < g->count; i++) {
    struct member *m = &g->members[i];
    if (!m->running) continue;
    kill(m->pid, SIGKILL);
    while (waitpid(m->pid, &m->status, 0) < 0 && errno == EINTR) {
    }
    m->running = false;
  }
}

/* SIGUSR1: SIGKILL to every member, and vmm-watch waits (up to GRACE_MS) until all are reaped,
 * so that none of the group is left for init to reap once vmm-watch exits. */
static void kill_group(struct group *g) {
  for (size_t i = 0; i < g->count; i++)
    if (g->members[i].running) kill(g->members[i].pid, SIGKILL);
  int64_t deadline = now_ms() + GRACE_MS;
  for (reap(g); any_running(g) && now_ms() < deadline; reap(g)) wait_signal(g, deadline - now_ms());
}

/* True when FD says boxlite is gone (EOF or an error); a byte (an ack) is consumed. */
static bool owner_gone(int watch_fd) {
  char byte;
  ssize_t got = read(watch_fd, &byte, 1);
  return got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN);
}

enum event { EVENT_NONE, EVENT_CHILD, EVENT_OWNER_GONE, EVENT_SIGNAL };

/* Waits up to timeout_ms (-1: forever) for the owner's EOF, a signal or, when extra_fd is not
 * -1, extra_fd readable (EVENT_NONE then); sets *signo for EVENT_SIGNAL. */
static enum event wait_event(struct group *g, int timeout_ms, int *signo, int extra_fd) {
  struct pollfd fds[3] = {{.fd = g->sig_fd, .events = POLLIN}, {.fd = g->watch_fd, .events = POLLIN}, {.fd = extra_fd, .events = POLLIN}};
  if (poll(fds, extra_fd < 0 ? 2 : 3, timeout_ms) <= 0) return EVENT_NONE;
  if (fds[1].revents && owner_gone(g->watch_fd)) return EVENT_OWNER_GONE;
  if (!(fds[0].revents & POLLIN)) return EVENT_NONE;
  struct signalfd_siginfo info;
  if (read(g->sig_fd, &info, sizeof info) != sizeof info) return EVENT_NONE;
  if (info.ssi_signo == SIGCHLD) return EVENT_CHILD;
  *signo = (int)info.ssi_signo;
  return EVENT_SIGNAL;
}

/* The first helper that was started and has ended, if any. */
static struct member *ended_helper(struct group *g) {
  for (size_t i = 0; i + 1 < g->count; i++)
    if (g->members[i].pid > 0 && !g->members[i].running) return &g->members[i];
  return NULL;
}

/* Watches the directory of path for names appearing (a helper binding its socket there) on
 * the inotify instance *fd, made on first use; false when there is none to be had. */
static bool watch_directory_of(int *fd, const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
  if (len >= sizeof dir) return false;
  memcpy(dir, len == 0 ? "." : path, len == 0 ? 1 : len);
  dir[len == 0 ? 1 : len] = '\0';
  if (*fd < 0) *fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  return *fd >= 0 && inotify_add_watch(*fd, dir, IN_CREATE | IN_MOVED_TO) >= 0;
}

/* Empties the inotify queue: what it said is checked by looking at the path itself. */
static void drain(int fd) {
  char events[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
  while (read(fd, events, sizeof events) > 0) {
  }
}

/* 0 once the helper's READY_PATH exists; else the status vmm-watch exits with. The kernel wakes
 * the wait when a name appears beside READY_PATH (inotify on *inotify_fd, which the caller
 * closes once the VMM runs: closing an inotify instance waits for an SRCU grace period, 16 ms
 * on a loaded host, which would delay the VMM's start), so the VMM starts as soon as the
 * helper is ready, not up to POLL_MS later; without a watch it polls. */
static int wait_ready(struct group *g, struct member *h, int *inotify_fd) {
  int64_t deadline = now_ms() + h->ready_ms;
  /* Watched before the first look, so that a path created in between is not missed. */
  bool watched = watch_directory_of(inotify_fd, h->ready_path);
  int tick = watched ? WATCHED_POLL_MS : POLL_MS;
  int status = -1;
  while (status < 0) {
    if (access(h->ready_path, F_OK) == 0) {
      status = 0;
      break;
    }
    reap(g);
    struct member *ended = ended_helper(g);
    if (ended != NULL) {
      fprintf(stderr, "vmm-watch: helper %s exited with status %d before the VMM started\n", ended->name, exit_status(ended->status));
      status = 125;
      break;
    }
    int64_t left = deadline - now_ms();
    if (left <= 0) {
      fprintf(stderr, "vmm-watch: helper %s did not create %s within %d ms\n", h->name, h->ready_path, h->ready_ms);
      status = 125;
      break;
    }
    int signo = 0;
    enum event event = wait_event(g, left < tick ? (int)left : tick, &signo, watched ? *inotify_fd : -1);
    if (event == EVENT_OWNER_GONE) status = 125;
    if (event == EVENT_SIGNAL) status = 128 + signo;
    if (watched) drain(*inotify_fd);
  }
  return status;
}

/* Reports a helper that ended, and gives boxlite up to ACK_MS to take note before the group is stopped. */
static void report_ended(struct group *g, const struct member *h) {
  bool signaled = WIFSIGNALED(h->status);
  dprintf(STDOUT_FILENO, "exited %s %d %s %d\n", h->name, (int)h->pid, signaled ? "signal" : "code",
          signaled ? WTERMSIG(h->status) : exit_status(h->status));
  struct pollfd ack = {.fd = g->watch_fd, .events = POLLIN};
  if (poll(&ack, 1, ACK_MS) > 0) owner_gone(g->watch_fd);
}

/* Supervises the running group until it ends; returns vmm-watch's exit status. */
static int supervise(struct group *g) {
  struct member *vmm = &g->members[g->count - 1];
  for (;;) {
    reap(g);
    if (!vmm->running) break;
    const struct member *ended = ended_helper(g);
    if (ended != NULL) {
      report_ended(g, ended);
      break;
    }
    int signo = 0;
    enum event event = wait_event(g, -1, &signo, -1);
    if (event == EVENT_OWNER_GONE) break;
    if (event == EVENT_SIGNAL && signo == SIGUSR1) {
      kill_group(g);
      return exit_status(vmm->status);
    }
    if (event == EVENT_SIGNAL) kill(vmm->pid, signo);
  }
  stop_group(g);
  return exit_status(vmm->status);
}

static int usage(void) {
  fprintf(stderr, "usage: vmm-watch [--cgroup PROCS]... [--cgroup-dir DIR] [--rlimit NAME=N]... [--jailed] [--vmm-fd N] FD [--helper NAME READY_PATH READY_MS ARGC PROGRAM [ARG...]]... -- PROGRAM [ARG...]\n");
  return 125;
}

/* Applies the jail's options; returns the index of FD in argv, -1 on bad usage, -2 when one fails (said why). */
static int parse_jail_options(int argc, char **argv, struct group *g) {
  int i = 1;
  for (; i + 1 < argc && strncmp(argv[i], "--", 2) == 0; i++) {
    if (strcmp(argv[i], "--jailed") == 0) g->jailed = true;
    else if (strcmp(argv[i], "--cgroup") == 0) { if (!join_cgroup(argv[++i])) return -2; }
    else if (strcmp(argv[i], "--cgroup-dir") == 0) { if (!open_cgroup_dir(argv[++i], &g->cgroup)) return -2; }
    else if (strcmp(argv[i], "--rlimit") == 0) { if (!set_rlimit(argv[++i])) return -2; }
    else if (strcmp(argv[i], "--vmm-fd") == 0) { if ((g->vmm_fd = atoi(argv[++i])) <= STDERR_FILENO) return -1; }
    else return -1;
  }
  return i;
}

/* Fills g's members from argv, from the token after FD; false on bad usage. */
static bool parse_args(int argc, char **argv, int i, struct group *g) {
  while (i < argc && strcmp(argv[i], "--helper") == 0) {
    if (g->count + 1 >= MAX_MEMBERS || i + 5 >= argc) return false;
    struct member *h = &g->members[g->count++];
    h->name = argv[i + 1];
    h->ready_path = argv[i + 2];
    h->ready_ms = atoi(argv[i + 3]);
    int count = atoi(argv[i + 4]);
    if (h->name[0] == '\0' || strpbrk(h->name, " \n") != NULL || h->ready_ms <= 0 || count < 1 || count > argc - (i + 5)) return false;
    /* A copy: in argv the helper's arguments run on into the next token, execvp wants a NULL. */
    h->argv = calloc((size_t)count + 1, sizeof *h->argv);
    if (h->argv == NULL) return false;
    memcpy(h->argv, &argv[i + 5], (size_t)count * sizeof *h->argv);
    i += 5 + count;
  }
  if (i + 1 >= argc || strcmp(argv[i], "--") != 0) return false;
  g->members[g->count++] = (struct member){.name = "vmm", .argv = &argv[i + 1]};
  return true;
}

/* A member that could not be started (-errno `err`): the group is stopped; vmm-watch's status. */
static int start_failed(struct group *g, const struct member *m, int err) {
  fprintf(stderr, "vmm-watch: starting %s: %s\n", m->name, strerror(-err));
  stop_group(g);
  return 125;
}

int main(int argc, char **argv) {
  struct group g = {.count = 0, .vmm_fd = -1, .cgroup = {.fd = -1}};
  int fd_at = parse_jail_options(argc, argv, &g);
  if (fd_at < 0 || argc - fd_at < 3 || !parse_args(argc, argv, fd_at + 1, &g)) return fd_at == -2 ? 125 : usage();
  g.watch_fd = atoi(argv[fd_at]);
  if (g.vmm_fd == g.watch_fd) return usage();
  for (size_t i = 0; g.jailed && i < g.count; i++) {
    struct member *m = &g.members[i];
    if ((m->jail = malloc(sizeof *m->jail)) == NULL || !jail_parse(m->argv, m->jail)) return 125;
  }
  if (setsid() < 0) { perror("vmm-watch: setsid"); return 125; }
  if ((g.null_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) { perror("vmm-watch: /dev/null"); return 125; }
  /* A report to a boxlite that died must not kill vmm-watch: its EOF on FD says so. */
  signal(SIGPIPE, SIG_IGN);

  sigemptyset(&g.mask);
  sigaddset(&g.mask, SIGCHLD);
  sigaddset(&g.mask, SIGTERM);
  sigaddset(&g.mask, SIGINT);
  sigaddset(&g.mask, SIGHUP);
  sigaddset(&g.mask, SIGUSR1);
  if (sigprocmask(SIG_BLOCK, &g.mask, NULL) != 0) { perror("vmm-watch: sigprocmask"); return 125; }
  g.sig_fd = signalfd(-1, &g.mask, SFD_CLOEXEC);
  if (g.sig_fd < 0) { perror("vmm-watch: signalfd"); return 125; }

  /* Jailed, the VMM sets up its view while the helpers start, held before its exec until they
   * are ready: their starts overlap, not add up. */
  struct member *vmm = &g.members[g.count - 1];
  int gate = -1, err, inotify_fd = -1;
  if (g.jailed && g.count > 1 && (err = start_member(&g, vmm, true, &gate)) < 0) return start_failed(&g, vmm, err);
  for (size_t i = 0; i + 1 < g.count; i++) {
    if ((err = start_member(&g, &g.members[i], false, NULL)) < 0) return start_failed(&g, &g.members[i], err);
    int status = wait_ready(&g, &g.members[i], &inotify_fd);
    if (status != 0) return stop_group(&g), status;
  }
  if (gate >= 0) open_gate(vmm, gate);
  else if ((err = start_member(&g, vmm, true, NULL)) < 0) return start_failed(&g, vmm, err);
  /* Only now, with the VMM running: see wait_ready. */
  if (inotify_fd >= 0) close(inotify_fd);
  return supervise(&g);
}
