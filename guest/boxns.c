#include "boxns.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "confine.h"
#include "kfile.h"
#include "log.h"

#ifndef SYS_close_range
#define SYS_close_range 436 /* the same number on every architecture */
#endif

static pid_t box_init;                      /* 0: not running */
static int ns_ipc = -1, ns_uts = -1;        /* the box init's namespaces */
static int cgroup_procs = -1;               /* the box cgroup's cgroup.procs */
static _Alignas(16) unsigned char init_stack[16 * 1024];

/* docker's read-only and masked parts of /proc: a command could otherwise set kernel.core_pattern
 * (a program the kernel runs as root in the agent's namespaces), crash the VM through
 * sysrq-trigger, or read the kernel's memory and keys. */
static const char *const proc_read_only[] = {"bus", "fs", "irq", "sys", "sysrq-trigger"};
static const char *const proc_masked[] = {"acpi", "asound", "kcore", "keys", "latency_stats", "sched_debug",
                                          "scsi", "timer_list", "timer_stats"};

static int remount_read_only(const char *path, const char *source, unsigned long extra) {
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount(source, path, NULL, MS_BIND | extra, NULL) < 0) return -1;
  return mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | flags, NULL);
}

/* The box's /proc: a procfs of its pid namespace (mounted from inside it), so a command sees
 * only the box's processes, with docker's paths made read-only or hidden. */
static int mount_box_proc(void) {
  const char *proc = ROOTFS_DIR "/proc";
  if (umount2(proc, MNT_DETACH) < 0 && errno != EINVAL) return -1; /* a dead init's */
  if (mount("proc", proc, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) return -1;
  char path[128];
  struct stat st;
  for (size_t i = 0; i < sizeof proc_read_only / sizeof *proc_read_only; i++) {
    snprintf(path, sizeof path, "%s/%s", proc, proc_read_only[i]);
    if (stat(path, &st) == 0 && remount_read_only(path, path, MS_REC) < 0) return -1;
  }
  for (size_t i = 0; i < sizeof proc_masked / sizeof *proc_masked; i++) {
    snprintf(path, sizeof path, "%s/%s", proc, proc_masked[i]);
    if (stat(path, &st) < 0) continue;
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)
                                 : remount_read_only(path, ROOTFS_DIR "/dev/null", 0);
    if (rc < 0) return -1;
  }
  return 0;
}

/* Once /proc is mounted, the init needs nothing but to reap: it is made no more than a box command
 * with no capabilities (in the box's cgroup and root, every capability dropped), so that even a
 * command able to ptrace it (SYS_PTRACE added) gains nothing through it. */
static int become_a_box_process(int ready) {
  const char *what;
  if (write(cgroup_procs, "0", 1) != 1) return -1;
  /* Nothing of the agent's (its channel, other commands' pipes, the console) but `ready`. */
  if ((ready > 0 && syscall(SYS_close_range, 0u, (unsigned)ready - 1, 0u) < 0) ||
      syscall(SYS_close_range, (unsigned)ready + 1, ~0u, 0u) < 0)
    return -1;
  if (chroot(ROOTFS_DIR) < 0 || chdir("/") < 0) return -1;
  return confine_before_user(0, confine_last_cap(), &what) < 0 || confine_root(0, &what) < 0 ? -1 : 0;
}

/* pid 1 of the box's pid namespace: mounts its /proc, says so on `ready`, then reaps the box's
 * orphans for ever. The kernel ignores signals a namespace sends its init that it has no handler
 * for, so the box cannot kill it (and with it every process of the box). */
static int init_main(void *arg) {
  int ready = *(int *)arg;
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  prctl(PR_SET_NAME, "box-init");
  char ok = mount_box_proc() == 0 && become_a_box_process(ready) == 0 ? 0 : (char)(errno ? errno : EIO);
  if (write(ready, &ok, 1) != 1 || ok) _exit(1);
  close(ready);
  for (;;) {
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    siginfo_t info;
    sigset_t child;
    sigemptyset(&child);
    sigaddset(&child, SIGCHLD);
    sigwaitinfo(&child, &info);
  }
}

static int fail(char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what, strerror(errno));
  return -1;
}

/* At most half the kernel's threads: a fork bomb in the box then leaves the agent room to fork. */
static int write_pids_max(const char *dir) {
  char text[32] = "";
  int fd = open("/proc/sys/kernel/threads-max", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
  if (fd >= 0) close(fd);
  long max = n > 0 ? strtol(text, NULL, 10) / 2 : 0;
  snprintf(text, sizeof text, "%ld", max > 64 ? max : 64);
  char path[128];
  snprintf(path, sizeof path, "%s/pids.max", dir);
  return kfile_write(path, text);
}

/* docker's default device rules: any node may be made (MKNOD), but only these opened, so a box
 * root cannot open a node it made for the VM's disks or the agent's channel. */
static const char *const allowed_devices[] = {
    "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
    "c 5:0 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm",
};

static int make_cgroup(char *err, size_t errlen) {
  const char *box = BOXNS_CGROUP_DIR "/box";
  if (mkdir("/run/boxlite", 0700) < 0 && errno != EEXIST) return fail(err, errlen, "mkdir /run/boxlite");
  if (mkdir(BOXNS_CGROUP_DIR, 0700) < 0 && errno != EEXIST) return fail(err, errlen, "mkdir " BOXNS_CGROUP_DIR);
  /* cpu: the box's processes are one scheduling group, so the agent gets its share of the vCPUs
   * against a fork bomb's hundreds. favordynmods: every command moves into the box's group, and
   * without it a move waits for an RCU grace period (cgroup_threadgroup_rwsem) — ~12 ms of every
   * exec under TCG. Kernels before 6.0 lack the option. */
  unsigned long flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
  if (mount("cgroup", BOXNS_CGROUP_DIR, "cgroup", flags, "pids,devices,cpu,favordynmods") < 0 &&
      mount("cgroup", BOXNS_CGROUP_DIR, "cgroup", flags, "pids,devices,cpu") < 0)
    return fail(err, errlen, "mount the pids, devices and cpu cgroup controllers");
  if (mkdir(box, 0700) < 0 && errno != EEXIST) return fail(err, errlen, "mkdir the box cgroup");
  if (write_pids_max(box) < 0) return fail(err, errlen, "set the box's pids.max");
  if (kfile_write(BOXNS_CGROUP_DIR "/box/devices.deny", "a") < 0) return fail(err, errlen, "deny the box's devices");
  for (size_t i = 0; i < sizeof allowed_devices / sizeof *allowed_devices; i++)
    if (kfile_write(BOXNS_CGROUP_DIR "/box/devices.allow", allowed_devices[i]) < 0)
      return fail(err, errlen, "allow the box's devices");
  /* io_uring creates sockets and opens files where seccomp cannot see (confine.c); the agent does
   * not use it, and the box's /proc/sys is read-only, so it stays off. */
  if (kfile_write("/proc/sys/kernel/io_uring_disabled", "2") < 0) log_errno("write", "/proc/sys/kernel/io_uring_disabled");
  cgroup_procs = open(BOXNS_CGROUP_DIR "/box/cgroup.procs", O_WRONLY | O_CLOEXEC);
  return cgroup_procs < 0 ? fail(err, errlen, "open the box cgroup's cgroup.procs") : 0;
}

static int open_ns(pid_t pid, const char *name) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/ns/%s", (int)pid, name);
  return open(path, O_RDONLY | O_CLOEXEC);
}

/* The init's namespaces: ipc and uts for commands to join, pid for the agent's next children. */
static int adopt_namespaces(pid_t pid, char *err, size_t errlen) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/oom_score_adj", (int)pid);
  if (kfile_write(path, "-1000") < 0) log_errno("write", path); /* the OOM killer takes the box's commands first */
  int pidns = open_ns(pid, "pid");
  if (pidns < 0 || setns(pidns, CLONE_NEWPID) < 0) {
    int e = errno;
    if (pidns >= 0) close(pidns);
    errno = e;
    return fail(err, errlen, "join the box's pid namespace");
  }
  close(pidns);
  if (ns_ipc >= 0) close(ns_ipc);
  if (ns_uts >= 0) close(ns_uts);
  ns_ipc = open_ns(pid, "ipc");
  ns_uts = open_ns(pid, "uts");
  return ns_ipc < 0 || ns_uts < 0 ? fail(err, errlen, "open the box's namespaces") : 0;
}

void boxns_prepare(void) {
  char why[256];
  if (cgroup_procs < 0 && make_cgroup(why, sizeof why) < 0) log_msg("the box's cgroup is made at CONFIG instead: %s", why);
}

int boxns_start(char *err, size_t errlen) {
  if (box_init > 0) return 0;
  if (cgroup_procs < 0 && make_cgroup(err, errlen) < 0) return -1;
  /* After a dead init, the agent's children would be born in its dead namespace, and so would a
   * new init's: back to the agent's own first. */
  int own = ns_ipc >= 0 ? open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC) : -1;
  if (own >= 0 && setns(own, CLONE_NEWPID) < 0) log_errno("setns", "/proc/self/ns/pid");
  if (own >= 0) close(own);
  int pipefd[2];
  confine_last_cap(); /* read from the agent's /proc, before the init is in the box's root */
  if (pipe2(pipefd, O_CLOEXEC) < 0) return fail(err, errlen, "pipe");
  /* The init is made in the agent's own pid namespace's terms: a new one of each, after the
   * hostname is set, so the box's uts namespace starts with it. */
  pid_t pid = clone(init_main, init_stack + sizeof init_stack, CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD,
                    &pipefd[1]);
  close(pipefd[1]);
  char status = 1;
  ssize_t n = pid < 0 ? -1 : read(pipefd[0], &status, 1);
  close(pipefd[0]);
  if (pid < 0) return fail(err, errlen, "start the box's init");
  if (n != 1 || status != 0) {
    errno = n == 1 ? status : EIO;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return fail(err, errlen, "set up the box's init (its /proc, cgroup, root and capabilities)");
  }
  if (adopt_namespaces(pid, err, errlen) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
  }
  box_init = pid;
  return 0;
}

int boxns_enter(const char **what) {
  if (setns(ns_ipc, CLONE_NEWIPC) < 0) return *what = "join the box's ipc namespace", -1;
  if (setns(ns_uts, CLONE_NEWUTS) < 0) return *what = "join the box's uts namespace", -1;
  /* "0" is the writer itself, whichever pid namespace it is in. */
  if (write(cgroup_procs, "0", 1) != 1) return *what = "join the box's cgroup", -1;
  return 0;
}

void boxns_reaped(pid_t pid) {
  if (pid != box_init) return;
  log_msg("the box's init (pid %d) exited; the next command starts another", (int)pid);
  box_init = 0;
}
