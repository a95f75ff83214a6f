/* The child of EXEC (set up the process in the container, then exec; it runs in the agent's
 * memory until then, see exec.c) and the forked child of FILES_OUT / FILES_IN (chroot into
 * the container, then copy). Never returns. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "boxns.h"
#include "confine.h"
#include "exec.h"

/* Writes [code][message] on the setup pipe, where exec_finish reads it, and exits with code. */
__attribute__((format(printf, 3, 0))) static _Noreturn void report(int errpipe, int code, const char *fmt,
                                                                   va_list ap) {
  char record[1 + EXIT_ERROR_MAX];
  record[0] = (char)code;
  int n = vsnprintf(record + 1, sizeof record - 1, fmt, ap);
  if (n < 0) n = 0;
  if ((size_t)n > sizeof record - 2) n = (int)sizeof record - 2;
  ssize_t ignored = write(errpipe, record, (size_t)n + 1);
  (void)ignored;
  _exit(code);
}

/* Reports a command's setup failure in the agent's memory (struct child_failure) and exits with code. */
__attribute__((format(printf, 3, 4))) static _Noreturn void fail(const struct child_plan *p, int code,
                                                                 const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->failure->message, sizeof p->failure->message, fmt, ap);
  va_end(ap);
  p->failure->code = code;
  _exit(code);
}

__attribute__((format(printf, 3, 4))) static _Noreturn void fail_fd(int errpipe, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  report(errpipe, code, fmt, ap);
}

/* The agent blocks SIGCHLD (for its signalfd), ignores SIGPIPE (main.c) and sets no handler
 * (execve would reset one anyway): a command starts with neither. An ignored signal outlives
 * execve, hence SIGPIPE's reset here — one call, not one per signal, which was 64 syscalls of
 * every command under TCG. */
static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  signal(SIGPIPE, SIG_DFL);
}

static void setup_stdio(const struct child_plan *p) {
  if (p->tty >= 0) {
    /* After setsid() the slave becomes this session's controlling terminal. */
    if (ioctl(p->tty, TIOCSCTTY, 0) < 0) fail(p, 126, "set controlling terminal: %s", strerror(errno));
    for (int fd = 0; fd < 3; fd++)
      if (dup2(p->tty, fd) < 0) fail(p, 126, "dup2: %s", strerror(errno));
    return;
  }
  int in = p->stdio[0];
  if (in < 0 && (in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0)
    fail(p, 126, "open /dev/null: %s", strerror(errno));
  /* Every fd here is >= 3 (0-2 are the console), so dup2 always clears close-on-exec. */
  if (dup2(in, 0) < 0 || dup2(p->stdio[1], 1) < 0 || dup2(p->stdio[2], 2) < 0)
    fail(p, 126, "dup2: %s", strerror(errno));
}

/* mkdir -p with mode 0755, as docker does for `run -w`. */
static int make_dirs(const char *path) {
  char buf[PATH_MAX];
  size_t n = strlen(path);
  if (n >= sizeof buf) return errno = ENAMETOOLONG, -1;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] != '/' && buf[i] != '\0') continue;
    char saved = buf[i];
    buf[i] = '\0';
    if (mkdir(buf, 0755) < 0 && errno != EEXIST) return -1;
    buf[i] = saved;
  }
  return 0;
}

static const char *env_path(char **envp) {
  for (char **e = envp; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) return *e + 5;
  return DEFAULT_PATH;
}

/* Like execvpe(), but with PATH from the command's env, not the agent's. Returns errno. */
static int exec_search(const char *file, char **argv, char **envp) {
  if (strchr(file, '/')) {
    execve(file, argv, envp);
    return errno;
  }
  if (!*file) return ENOENT;
  int result = ENOENT;
  const char *dir = env_path(envp);
  for (;;) {
    size_t dir_len = strcspn(dir, ":");
    char path[PATH_MAX];
    /* An empty PATH entry means the current directory. */
    int n = snprintf(path, sizeof path, "%.*s%s%s", (int)dir_len, dir, dir_len ? "/" : "", file);
    if (n > 0 && (size_t)n < sizeof path) {
      execve(path, argv, envp);
      if (errno == EACCES) result = EACCES; /* keep looking, but report it if nothing runs */
      else if (errno != ENOENT && errno != ENOTDIR) return errno;
    }
    if (!dir[dir_len]) return result;
    dir += dir_len + 1;
  }
}

_Noreturn void child_run(const struct child_plan *p) {
  const struct exec_request *req = p->req;
  reset_signals();
  if (setsid() < 0) fail(p, 126, "setsid: %s", strerror(errno));
  setup_stdio(p);
  const char *what;
  /* The box's namespaces and cgroup (the agent bore this child in its pid namespace already). */
  if (boxns_enter(&what) < 0) fail(p, 126, "%s: %s", what, strerror(errno));
  /* A mount namespace of its own, so the command cannot change the agent's mounts. */
  if (unshare(CLONE_NEWNS) < 0) fail(p, 126, "unshare(CLONE_NEWNS): %s", strerror(errno));
  if (chroot(ROOTFS_DIR) < 0 || chdir("/") < 0) fail(p, 126, "chroot %s: %s", ROOTFS_DIR, strerror(errno));
  if (req->create_cwd && make_dirs(req->cwd) < 0)
    fail(p, 126, "create cwd (\"%s\"): %s", req->cwd, strerror(errno));
  if (confine_before_user(p->caps, p->last_cap, &what) < 0) fail(p, 126, "%s: %s", what, strerror(errno));
  gid_t groups[USER_MAX_GROUPS];
  for (size_t i = 0; i < p->user->ngroups; i++) groups[i] = p->user->groups[i];
  if (setgroups(p->user->ngroups, groups) < 0) fail(p, 126, "setgroups: %s", strerror(errno));
  if (setgid(p->user->gid) < 0) fail(p, 126, "setgid %u: %s", p->user->gid, strerror(errno));
  if (setuid(p->user->uid) < 0) fail(p, 126, "setuid %u: %s", p->user->uid, strerror(errno));
  if (p->user->uid == 0 && confine_root(p->caps, &what) < 0) fail(p, 126, "%s: %s", what, strerror(errno));
  /* After setuid, so the user's own permissions apply to the cwd. */
  if (chdir(req->cwd) < 0) fail(p, 126, "chdir to cwd (\"%s\"): %s", req->cwd, strerror(errno));
  int e = exec_search(req->argv[0], req->argv, p->envp);
  fail(p, e == ENOENT ? 127 : 126, "exec \"%s\": %s", req->argv[0], strerror(e));
}

/* Without exec, close-on-exec does nothing: close every fd of the agent (the channel, other
 * commands' pipes) but 0-2 and keep, so that no other stream waits on this child. */
static void close_agent_fds(int keep) {
#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture */
#endif
  bool closed = (keep == 3 || syscall(SYS_close_range, 3u, (unsigned)keep - 1, 0u) == 0) &&
                syscall(SYS_close_range, (unsigned)keep + 1, ~0u, 0u) == 0;
  if (closed) return;
  long max = sysconf(_SC_OPEN_MAX); /* kernels before 5.9 */
  for (int fd = 3; fd < (max > 0 ? max : 1024); fd++)
    if (fd != keep) close(fd);
}

/* The tar's pipe becomes stdout (FILES_OUT) or stdin (FILES_IN); the other one /dev/null. */
static int setup_files_stdio(const struct files_plan *p, bool out) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null < 0) fail_fd(p->errpipe, 1, "open /dev/null: %s", strerror(errno));
  if (dup2(out ? null : p->data, 0) < 0 || dup2(out ? p->data : null, 1) < 0)
    fail_fd(p->errpipe, 1, "dup2: %s", strerror(errno));
  return out ? 1 : 0;
}

_Noreturn void files_child_run(const struct files_plan *p) {
  bool out = p->req->type == FRAME_FILES_OUT;
  reset_signals();
  /* A session (and process group) of its own, like a command's: terminate kills it whole. */
  if (setsid() < 0) fail_fd(p->errpipe, 1, "setsid: %s", strerror(errno));
  int data = setup_files_stdio(p, out);
  close_agent_fds(p->errpipe);
  if (unshare(CLONE_NEWNS) < 0) fail_fd(p->errpipe, 1, "unshare(CLONE_NEWNS): %s", strerror(errno));
  /* In the chroot every path, symlinks included, resolves inside the container. */
  if (chroot(ROOTFS_DIR) < 0 || chdir("/") < 0)
    fail_fd(p->errpipe, 1, "chroot %s: %s", ROOTFS_DIR, strerror(errno));
  int root = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) fail_fd(p->errpipe, 1, "open /: %s", strerror(errno));
  files_child_finish(root, p->req, data, p->errpipe);
}

_Noreturn void files_child_finish(int rootfd, const struct files_request *req, int data, int errpipe) {
  struct files_result res;
  if (req->type == FRAME_FILES_OUT) files_out(rootfd, &req->spec, data, &res);
  else files_in(rootfd, &req->spec, data, &res);
  if (res.code != FILES_OK) fail_fd(errpipe, res.code, "%s", res.error);
  _exit(0);
}
