#include "exec.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "boxns.h"
#include "caps.h"
#include "clock.h"
#include "confine.h"
#include "mounts.h"
#include "net.h"
#include "configure.h"
#include "log.h"
#include "loop.h"
#include "pty.h"
#include "userdb.h"
#include "wake.h"

/* The pipes or PTY of one command. */
enum { IN_R, IN_W, OUT_R, OUT_W, ERR_R, ERR_W, PTY_MASTER, PTY_SLAVE, SETUP_R, SETUP_W, NFDS };

static void close_fds(int *fds, const int *which, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (fds[which[i]] >= 0) {
      close(fds[which[i]]);
      fds[which[i]] = -1;
    }
}

/* A close-on-exec pipe into fds[r], fds[r + 1]; the agent's end, fds[nonblocking], does not block. */
static int make_pipe(int *fds, int r, int nonblocking, char *err, size_t errlen) {
  if (pipe2(&fds[r], O_CLOEXEC) < 0) {
    snprintf(err, errlen, "pipe: %s", strerror(errno));
    return -1;
  }
  fcntl(fds[nonblocking], F_SETFL, O_NONBLOCK);
  return 0;
}

/* The next command's output pipes (OUT_R, OUT_W, ERR_R, ERR_W), made ahead of it: two pipe2 and
 * two fcntl calls cost ~0.1 ms of an exec's path under TCG. They are made once a command's EXIT
 * went out, while the host reads it (exec_prepare_stdio), and taken by the next command. */
static int spare[4] = {-1, -1, -1, -1};
/* A command ended since spares were last made: the next one is likely soon. */
static bool spare_wanted;

static bool have_spare(void) { return spare[0] >= 0; }

bool exec_stdio_wanted(void) { return spare_wanted && !have_spare(); }

void exec_prepare_stdio(void) {
  spare_wanted = false;
  if (have_spare()) return;
  int fds[NFDS];
  char err[64];
  if (make_pipe(fds, OUT_R, OUT_R, err, sizeof err) < 0) return;
  if (make_pipe(fds, ERR_R, ERR_R, err, sizeof err) < 0) {
    close(fds[OUT_R]);
    close(fds[OUT_W]);
    return;
  }
  memcpy(spare, &fds[OUT_R], sizeof spare);
}

static int open_stdio(const struct exec_request *req, int *fds, char *err, size_t errlen) {
  if (req->tty) return pty_open(&fds[PTY_MASTER], &fds[PTY_SLAVE], req->rows, req->cols, err, errlen);
  if (req->stdin_open && make_pipe(fds, IN_R, IN_W, err, errlen) < 0) return -1;
  if (have_spare()) {
    memcpy(&fds[OUT_R], spare, sizeof spare);
    for (int i = 0; i < 4; i++) spare[i] = -1;
    return 0;
  }
  if (make_pipe(fds, OUT_R, OUT_R, err, errlen) < 0) return -1;
  return make_pipe(fds, ERR_R, ERR_R, err, errlen);
}

/* The command's environment: req->env, plus HOME from passwd when it has none. */
static char **build_env(const struct exec_request *req, char *home_entry) {
  char **envp = calloc(req->envc + 2, sizeof *envp);
  if (!envp) return NULL;
  bool has_home = false;
  for (size_t i = 0; i < req->envc; i++) {
    envp[i] = req->env[i];
    if (strncmp(req->env[i], "HOME=", 5) == 0) has_home = true;
  }
  if (!has_home) envp[req->envc] = home_entry;
  return envp;
}

/* Every descriptor slot, for closing all of them on failure. */
static const int all[NFDS] = {IN_R, IN_W, OUT_R, OUT_W, ERR_R, ERR_W, PTY_MASTER, PTY_SLAVE, SETUP_R, SETUP_W};

/* The parent's half of a fork, shared by commands and copies: on failure every
 * descriptor is closed; on success the child's ends are, and the stream records the
 * child, its start and its setup pipe. */
static int adopt_child(struct stream *st, pid_t pid, uint64_t start, int *fds, const int *child_ends, size_t n,
                       char *err, size_t errlen) {
  if (pid < 0) {
    snprintf(err, errlen, "fork: %s", strerror(errno));
    close_fds(fds, all, NFDS);
    return -1;
  }
  close_fds(fds, child_ends, n);
  st->pid = pid;
  st->start_ns = start;
  st->errpipe = fds[SETUP_R];
  return 0;
}

/* The stack a command's child runs on until execve. The child shares the agent's memory
 * (CLONE_VM | CLONE_VFORK, as posix_spawn does): fork would copy the agent's page tables and
 * write-protect its pages, and the agent would then take a copy-on-write fault on every page
 * it writes next — under TCG the largest part of what a command costs beyond its own run.
 * The agent is suspended until the child execs or exits, so one stack serves every command,
 * and the child writes only its own stack (child.c keeps to syscalls and _exit). */
static _Alignas(16) unsigned char child_stack[64 * 1024];

static int child_entry(void *plan) { child_run(plan); }

static int spawn(void *ctx, struct stream *st, const struct exec_request *req, char *err, size_t errlen) {
  const struct agent *agent = ctx;
  net_loopback_now(); /* a command may need it before the agent was ever idle */
  /* Started at CONFIG; again here only when the box's init died. */
  if (boxns_start(err, errlen) < 0) return -1;
  static struct userdb users;
  if (!users.root[0]) userdb_init(&users, ROOTFS_DIR);
  struct user_ids user;
  /* Resolved here, before the child exists, so the child only has to apply it. */
  if (userdb_resolve(&users, req->user, &user, err, errlen) < 0) return -1;
  char home_entry[USER_HOME_MAX + 8];
  snprintf(home_entry, sizeof home_entry, "HOME=%s", user.home);
  char **envp = build_env(req, home_entry);
  if (!envp) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  int fds[NFDS];
  static const int child_ends[] = {IN_R, OUT_W, ERR_W, PTY_SLAVE};
  for (int i = 0; i < NFDS; i++) fds[i] = -1;
  if (open_stdio(req, fds, err, errlen) < 0) {
    close_fds(fds, all, NFDS);
    free(envp);
    return -1;
  }
  struct child_failure failure = {.code = 0};
  struct child_plan plan = {
      .req = req,
      .user = &user,
      .envp = envp,
      .stdio = {fds[IN_R], fds[OUT_W], fds[ERR_W]},
      .tty = fds[PTY_SLAVE],
      .caps = agent->main.session.config.capabilities & (CAPS_ALL >> (CAPS_LAST - confine_last_cap())),
      .last_cap = confine_last_cap(),
      .failure = &failure,
  };
  uint64_t start = clock_now_ns();
  pid_t pid = clone(child_entry, child_stack + sizeof child_stack, CLONE_VM | CLONE_VFORK | SIGCHLD, &plan);
  free(envp);
  if (adopt_child(st, pid, start, fds, child_ends, sizeof child_ends / sizeof child_ends[0], err, errlen) < 0) return -1;
  /* The child has exec'd or exited by now (CLONE_VFORK): a failure is in place. */
  if (failure.code) memcpy(st->error, failure.message, sizeof st->error);
  st->pty = req->tty;
  st->fds[0] = req->tty ? fds[PTY_MASTER] : fds[IN_W];
  st->fds[1] = req->tty ? fds[PTY_MASTER] : fds[OUT_R];
  st->fds[2] = fds[ERR_R];
  return 0;
}

/* A copy: a child like a command's, with one pipe for the tar (and the setup pipe). */
static int spawn_files(void *ctx, struct stream *st, const struct files_request *req, char *err, size_t errlen) {
  (void)ctx;
  bool out = req->type == FRAME_FILES_OUT;
  int fds[NFDS];
  static const int child_ends[] = {IN_R, OUT_W, SETUP_W};
  for (int i = 0; i < NFDS; i++) fds[i] = -1;
  if (make_pipe(fds, SETUP_R, SETUP_R, err, errlen) < 0 ||
      make_pipe(fds, out ? OUT_R : IN_R, out ? OUT_R : IN_W, err, errlen) < 0) {
    close_fds(fds, all, NFDS);
    return -1;
  }
  struct files_plan plan = {.req = req, .data = out ? fds[OUT_W] : fds[IN_R], .errpipe = fds[SETUP_W]};
  uint64_t start = clock_now_ns();
  pid_t pid = fork();
  if (pid == 0) files_child_run(&plan);
  if (adopt_child(st, pid, start, fds, child_ends, sizeof child_ends / sizeof child_ends[0], err, errlen) < 0) return -1;
  st->fds[0] = fds[IN_W];
  st->fds[1] = fds[OUT_R];
  return 0;
}

void exec_finish(struct stream *st, int status, uint64_t now_ns) {
  spare_wanted = true;
  st->exit_ns = now_ns;
  st->signal = 0;
  if (WIFSIGNALED(status)) {
    st->signal = WTERMSIG(status);
    st->code = 128 + st->signal;
  } else {
    st->code = WEXITSTATUS(status);
  }
  if (st->errpipe < 0) return;
  /* The child is gone and the write end was close-on-exec: this read cannot block. */
  unsigned char record[1 + EXIT_ERROR_MAX];
  ssize_t n;
  do n = read(st->errpipe, record, sizeof record - 1);
  while (n < 0 && errno == EINTR);
  if (n > 1) {
    st->code = record[0];
    st->signal = 0;
    memcpy(st->error, record + 1, (size_t)n - 1);
    st->error[n - 1] = '\0';
  }
  close(st->errpipe);
  st->errpipe = -1;
}

static void signal_process(void *ctx, struct stream *st, int sig) {
  (void)ctx;
  if (kill(st->pid, sig) < 0) log_errno("kill", NULL);
}

static void resize_pty(void *ctx, struct stream *st, uint16_t rows, uint16_t cols) {
  (void)ctx;
  if (pty_resize(st->fds[1], rows, cols) < 0) log_errno("ioctl(TIOCSWINSZ)", NULL);
}

static void terminate(void *ctx, struct stream *st) {
  (void)ctx;
  /* The command is a session (and process group) leader: take its children down too. */
  kill(-st->pid, SIGKILL);
  kill(st->pid, SIGKILL);
}

static int freeze_rootfs(void *ctx, bool freeze, char *err, size_t errlen) {
  (void)ctx;
  int rc = mounts_freeze_rootfs(freeze);
  if (rc == 0) return 0;
  snprintf(err, errlen, "ioctl(%s) on " ROOTFS_DIR ": %s", freeze ? "FIFREEZE" : "FITHAW", strerror(-rc));
  log_msg("%s", err);
  return -1;
}

static int wake(void *ctx, const struct wake_request *req, char *err, size_t errlen) {
  (void)ctx;
  if (wake_apply(req, err, errlen) == 0) {
    log_msg("agent %s woke from saved memory: clock set, RNG reseeded%s", BOXLITE_GUEST_VERSION,
            req->ndisks > 0 ? ", the box's disks adopted" : "");
    return 0;
  }
  log_msg("wake: %s", err);
  return -1;
}

const struct session_ops exec_ops = {
    .configure = configure_apply,
    .spawn = spawn,
    .signal = signal_process,
    .resize = resize_pty,
    .terminate = terminate,
    .spawn_files = spawn_files,
    .freeze = freeze_rootfs,
    .wake = wake,
};
