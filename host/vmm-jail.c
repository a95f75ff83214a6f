/* The jail's part of vmm-watch that acts on vmm-watch itself (see vmm-watch.c, --cgroup,
 * --rlimit; docs/security.md) — a member's own view and identity are jail-enter.c's — and what
 * it reads of /proc. */
#define _GNU_SOURCE
#include "vmm-jail.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Every fd from `from` up is closed: the jail hands a member nothing it did not ask for. */
void close_from(int from) {
  if (syscall(SYS_close_range, (unsigned)from, ~0U, 0) == 0) return;
  for (int fd = from; fd < 1024; fd++) close(fd);
}

void close_from_except(int from, int keep) {
  if (keep < from) {
    close_from(from);
    return;
  }
  for (int fd = from; fd < keep; fd++) close(fd);
  close_from(keep + 1);
}

/* Moves vmm-watch into the cgroup of `procs` (its cgroup.procs, or a v1 hierarchy's `tasks`,
 * which moves just the writing thread: vmm-watch has only one), by writing "0": the writer. */
bool join_cgroup(const char *procs) {
  int fd = open(procs, O_WRONLY | O_CLOEXEC);
  bool ok = fd >= 0 && write(fd, "0", 1) == 1;
  if (!ok) fprintf(stderr, "vmm-watch: joining cgroup %s: %s\n", procs, strerror(errno));
  if (fd >= 0) close(fd);
  return ok;
}

/* linux/sched.h's struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2): musl has no such header. */
struct clone_args_v2 {
  uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};
#define CLONE_INTO_CGROUP_FLAG 0x200000000ULL
#ifndef SYS_clone3
#define SYS_clone3 435 /* the same number on x86_64 and aarch64 */
#endif

bool open_cgroup_dir(const char *dir, struct cgroup_target *t) {
  static char procs[4096];
  if (snprintf(procs, sizeof procs, "%s/cgroup.procs", dir) >= (int)sizeof procs) {
    fprintf(stderr, "vmm-watch: cgroup directory name too long: %s\n", dir);
    return false;
  }
  t->procs = procs;
  t->fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (t->fd < 0) fprintf(stderr, "vmm-watch: opening cgroup %s: %s\n", dir, strerror(errno));
  return t->fd >= 0;
}

/* Forked straight into the cgroup, a member costs no write to its cgroup.procs: such a write
 * takes the kernel's global threadgroup lock, which waits for an RCU grace period (5-11 ms on
 * the test machines, on every box's start). vmm-watch is single-threaded, so a raw clone3 is a
 * fork as far as musl is concerned. */
pid_t fork_member(struct cgroup_target *t, unsigned long namespaces) {
  if (t->fd >= 0) {
    struct clone_args_v2 args = {.flags = CLONE_INTO_CGROUP_FLAG | namespaces, .exit_signal = SIGCHLD, .cgroup = (uint64_t)t->fd};
    long pid = syscall(SYS_clone3, &args, sizeof args);
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL)) return (pid_t)pid;
    if (!join_cgroup(t->procs)) return -1;
    close(t->fd);
    t->fd = -1;
  }
  /* clone(2) with no new stack is fork(2) with namespaces. */
  return namespaces == 0 ? fork() : (pid_t)syscall(SYS_clone, namespaces | SIGCHLD, 0, 0, 0, 0);
}

/* Applies `NAME=N` to vmm-watch itself: its members inherit it. */
bool set_rlimit(const char *spec) {
  static const struct { const char *name; int resource; } names[] = {{"nofile", RLIMIT_NOFILE}, {"core", RLIMIT_CORE}, {"fsize", RLIMIT_FSIZE}};
  const char *eq = strchr(spec, '=');
  char *end = NULL;
  unsigned long long value = eq == NULL ? 0 : strtoull(eq + 1, &end, 10);
  for (size_t i = 0; eq != NULL && end != NULL && *end == '\0' && end != eq + 1 && i < sizeof names / sizeof names[0]; i++) {
    if (strncmp(spec, names[i].name, (size_t)(eq - spec)) != 0 || names[i].name[eq - spec] != '\0') continue;
    struct rlimit limit = {(rlim_t)value, (rlim_t)value};
    if (setrlimit(names[i].resource, &limit) == 0) return true;
    fprintf(stderr, "vmm-watch: setting rlimit %s: %s\n", spec, strerror(errno));
    return false;
  }
  fprintf(stderr, "vmm-watch: bad --rlimit %s\n", spec);
  return false;
}

/* Copies field 22 of /proc/PID/stat (start time, in clock ticks after boot) into out. */
int read_start_time(pid_t pid, char out[START_TIME_MAX]) {
  char path[64], stat[2048];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -errno;
  ssize_t got = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (got <= 0) return -EIO;
  stat[got] = '\0';
  /* The command name (field 2) may hold spaces and parentheses: count after its last ')'. */
  char *field = strrchr(stat, ')');
  if (field == NULL || field[1] != ' ') return -EIO;
  field += 2; /* field 3 */
  for (int n = 3; n < 22; n++) {
    field = strchr(field, ' ');
    if (field == NULL) return -EIO;
    field++;
  }
  size_t len = strcspn(field, " ");
  if (len == 0 || len >= START_TIME_MAX) return -EIO;
  memcpy(out, field, len);
  out[len] = '\0';
  return 0;
}
