/*
 * A jailed member's own jail (jail-enter.h), set up by vmm-watch in the member's process
 * between its clone, which gave it new namespaces, and its exec: what bubblewrap and setpriv
 * did before, without their two execs (on the 2-core test hosts ~10 ms per jailed process
 * idle, and more while a box starts; docs/security.md, "Benchmark").
 *
 * The view is built the way bubblewrap builds one: a tmpfs is mounted on /tmp and pivoted to,
 * so the host's root is reachable at /oldroot while the view is assembled in /newroot from
 * it; then /oldroot is detached and /newroot becomes the root. Binds take their mount flags
 * with mount_setattr(2) (Linux >= 5.12), recursively, which adds read-only, nosuid and nodev
 * to whatever the host's mount was without reading /proc/self/mountinfo for each bind.
 */
#define _GNU_SOURCE
#include "jail-enter.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef CLONE_NEWCGROUP
#define CLONE_NEWCGROUP 0x02000000
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* linux/mount.h, which musl does not ship. */
struct mount_attr_v0 {
  uint64_t attr_set, attr_clr, propagation, userns_fd;
};
#define MOUNT_ATTR_RDONLY 0x1
#define MOUNT_ATTR_NOSUID 0x2
#define MOUNT_ATTR_NODEV 0x4
#define MOUNT_ATTR_NOEXEC 0x8
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif

/* linux/capability.h, likewise. */
struct cap_header {
  uint32_t version;
  int pid;
};
struct cap_data {
  uint32_t effective, permitted, inheritable;
};
#define CAP_VERSION_3 0x20080522

#define NEW "/newroot"
#define OLD "/oldroot"

/* The device nodes every view has (bubblewrap's --dev), bound from the host's. */
static const char *const DEVICES[] = {"null", "zero", "full", "random", "urandom", "tty"};
/* /proc entries that change the host's kernel even from a namespace: read-only, as bubblewrap has them. */
static const char *const PROC_READ_ONLY[] = {"sys", "sysrq-trigger", "irq", "bus"};

static _Noreturn void fail(const char *what, const char *path) {
  int err = errno;
  fprintf(stderr, "vmm-watch: jail: %s%s%s: %s\n", what, path == NULL ? "" : " ", path == NULL ? "" : path, strerror(err));
  _exit(125);
}

static bool usage(const char *why, const char *arg) {
  fprintf(stderr, "vmm-watch: jail: %s%s%s\n", why, arg == NULL ? "" : ": ", arg == NULL ? "" : arg);
  return false;
}

static bool parse_number(const char *text, unsigned long max, unsigned long *out) {
  char *end = NULL;
  errno = 0;
  unsigned long value = strtoul(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || value > max) return false;
  *out = value;
  return true;
}

/* "-" or N[,N...]: each at most max, at most cap of them. */
static bool parse_list(const char *text, unsigned long max, unsigned long *values, size_t cap, size_t *count) {
  *count = 0;
  if (strcmp(text, "-") == 0) return true;
  char copy[256];
  if (strlen(text) >= sizeof copy) return false;
  strcpy(copy, text);
  char *save = NULL;
  for (char *item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save))
    if (*count == cap || !parse_number(item, max, &values[(*count)++])) return false;
  return true;
}

static bool add_op(struct jail_spec *spec, enum jail_op_kind kind, const char *path, const char *target) {
  if (spec->op_count == JAIL_MAX_OPS) return usage("too many binds and links", NULL);
  if (path[0] != '/' || strlen(path) + sizeof NEW >= PATH_MAX) return usage("a view's path must be absolute and not too long", path);
  spec->ops[spec->op_count++] = (struct jail_op){.kind = kind, .path = path, .target = target};
  return true;
}

bool jail_parse(char **argv, struct jail_spec *spec) {
  *spec = (struct jail_spec){
    .clone_flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | CLONE_NEWNET,
    .outer_uid = getuid(),
    .outer_gid = getgid(),
  };
  size_t i = 0;
  for (; argv[i] != NULL && strcmp(argv[i], "--") != 0; i++) {
    const char *opt = argv[i];
    unsigned long values[JAIL_MAX_GROUPS];
    size_t count = 0;
    bool one = argv[i + 1] != NULL, two = one && argv[i + 2] != NULL, three = two && argv[i + 3] != NULL;
    if (strcmp(opt, "--userns") == 0) {
      spec->userns = true;
      spec->clone_flags |= CLONE_NEWUSER;
    } else if (strcmp(opt, "--share-net") == 0) {
      spec->clone_flags &= ~(unsigned long)CLONE_NEWNET;
    } else if (strcmp(opt, "--uid") == 0 && three) {
      unsigned long uid, gid;
      if (!parse_number(argv[i + 1], UINT32_MAX - 1, &uid) || !parse_number(argv[i + 2], UINT32_MAX - 1, &gid) ||
          !parse_list(argv[i + 3], UINT32_MAX - 1, values, JAIL_MAX_GROUPS, &count))
        return usage("bad --uid", argv[i + 1]);
      spec->set_uid = true;
      spec->uid = (uid_t)uid;
      spec->gid = (gid_t)gid;
      for (size_t g = 0; g < count; g++) spec->groups[g] = (gid_t)values[g];
      spec->group_count = count;
      i += 3;
    } else if (strcmp(opt, "--caps") == 0 && one) {
      unsigned long caps[64];
      if (!parse_list(argv[++i], 63, caps, 64, &count)) return usage("bad --caps", argv[i]);
      for (size_t c = 0; c < count; c++) spec->keep_caps |= 1ULL << caps[c];
    } else if (strcmp(opt, "--setenv") == 0 && one) {
      if (spec->env_count == JAIL_MAX_ENV || strchr(argv[i + 1], '=') == NULL) return usage("bad --setenv", argv[i + 1]);
      spec->env[spec->env_count++] = argv[++i];
    } else if (strcmp(opt, "--symlink") == 0 && two) {
      if (!add_op(spec, JAIL_SYMLINK, argv[i + 2], argv[i + 1])) return false;
      i += 2;
    } else if (one && (strcmp(opt, "--ro") == 0 || strcmp(opt, "--ro-try") == 0 || strcmp(opt, "--rw") == 0 || strcmp(opt, "--dev-try") == 0)) {
      enum jail_op_kind kind = strcmp(opt, "--ro") == 0 ? JAIL_RO : strcmp(opt, "--ro-try") == 0 ? JAIL_RO_TRY : strcmp(opt, "--rw") == 0 ? JAIL_RW : JAIL_DEV_TRY;
      if (!add_op(spec, kind, argv[++i], NULL)) return false;
    } else {
      return usage("unknown or incomplete option", opt);
    }
  }
  if (argv[i] == NULL || argv[i + 1] == NULL) return usage("no `-- PROGRAM` after the jail's options", NULL);
  if (spec->userns && spec->set_uid) return usage("--uid needs root, which --userns is not", NULL);
  spec->argv = &argv[i + 1];
  return true;
}

/* The host's /proc, open from the member's start until its exec: its user namespace's maps
 * and limit are written through it (map_to_itself), even once the view's /proc/sys, read-only,
 * has taken the place of the host's. */
static int proc_fd = -1;

static void write_at(int dir, const char *path, const char *text) {
  int fd = openat(dir, path, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) fail("writing /proc", path);
  close(fd);
}

/* The member's new user namespace maps just `uid` and `gid`, to themselves, so files keep their
 * owner; and none may be made in it: the limit belongs to this namespace, and once the program
 * runs without CAP_SYS_RESOURCE in it, nothing raises the limit again. */
static void map_to_itself(uid_t uid, gid_t gid) {
  char map[64];
  write_at(proc_fd, "self/setgroups", "deny");
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)uid, (unsigned)uid);
  write_at(proc_fd, "self/uid_map", map);
  snprintf(map, sizeof map, "%u %u 1\n", (unsigned)gid, (unsigned)gid);
  write_at(proc_fd, "self/gid_map", map);
  write_at(proc_fd, "sys/user/max_user_namespaces", "0");
}

static void set_attrs(const char *path, uint64_t attrs) {
  struct mount_attr_v0 attr = {.attr_set = attrs};
  if (syscall(SYS_mount_setattr, AT_FDCWD, path, AT_RECURSIVE, &attr, sizeof attr) != 0) fail("setting the flags of", path);
}

static void mount_or_fail(const char *source, const char *target, const char *type, unsigned long flags, const char *data) {
  if (mount(source, target, type, flags, data) != 0) fail("mounting", target);
}

/* mkdir -p with 0755 directories (umask is 0 meanwhile): a host directory's mode, 0700 say,
 * would shut a dropped uid out of what it leads to. */
static void make_parents(char *path) {
  for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("making", path);
    *slash = '/';
  }
}

static void bind(const char *source, const char *path, uint64_t attrs) {
  char from[PATH_MAX + sizeof OLD], to[PATH_MAX + sizeof NEW];
  struct stat st;
  snprintf(from, sizeof from, OLD "%s", source);
  snprintf(to, sizeof to, NEW "%s", path);
  if (stat(from, &st) != 0) fail("looking at", source);
  make_parents(to);
  if (S_ISDIR(st.st_mode) ? mkdir(to, 0755) != 0 && errno != EEXIST : mknod(to, S_IFREG | 0644, 0) != 0 && errno != EEXIST) fail("making", path);
  mount_or_fail(from, to, NULL, MS_BIND | MS_REC, NULL);
  set_attrs(to, attrs);
}

static void make_dir(const char *path, unsigned long flags, const char *type, const char *data) {
  if (mkdir(path, 0755) != 0 && errno != EEXIST) fail("making", path);
  if (type != NULL) mount_or_fail(type, path, type, flags, data);
}

static void link_or_fail(const char *target, const char *path) {
  if (symlink(target, path) != 0) fail("linking", path);
}

/* The view's own /proc, /dev and /tmp. */
static void basics(void) {
  char path[64];
  make_dir(NEW "/proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "proc", NULL);
  for (size_t i = 0; i < sizeof PROC_READ_ONLY / sizeof PROC_READ_ONLY[0]; i++) {
    snprintf(path, sizeof path, NEW "/proc/%s", PROC_READ_ONLY[i]);
    if (access(path, F_OK) != 0) continue;
    mount_or_fail(path, path, NULL, MS_BIND | MS_REC, NULL);
    set_attrs(path, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
  }
  make_dir(NEW "/dev", MS_NOSUID | MS_NODEV, "tmpfs", "mode=0755");
  for (size_t i = 0; i < sizeof DEVICES / sizeof DEVICES[0]; i++) {
    snprintf(path, sizeof path, "/dev/%s", DEVICES[i]);
    bind(path, path, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC);
  }
  link_or_fail("/proc/self/fd", NEW "/dev/fd");
  link_or_fail("/proc/self/fd/0", NEW "/dev/stdin");
  link_or_fail("/proc/self/fd/1", NEW "/dev/stdout");
  link_or_fail("/proc/self/fd/2", NEW "/dev/stderr");
  make_dir(NEW "/dev/shm", 0, NULL, NULL);
  make_dir(NEW "/dev/pts", MS_NOSUID | MS_NOEXEC, "devpts", "newinstance,ptmxmode=0666,mode=620");
  link_or_fail("pts/ptmx", NEW "/dev/ptmx");
  make_dir(NEW "/tmp", MS_NOSUID | MS_NODEV, "tmpfs", "mode=0755");
}

static void apply(const struct jail_op *op) {
  const uint64_t plain = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
  if (op->kind == JAIL_SYMLINK) {
    char path[PATH_MAX + sizeof NEW];
    snprintf(path, sizeof path, NEW "%s", op->path);
    make_parents(path);
    link_or_fail(op->target, path);
  } else if (op->source != NULL) {
    bind(op->source, op->path, op->kind == JAIL_RW ? plain : op->kind == JAIL_DEV_TRY ? MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC : plain | MOUNT_ATTR_RDONLY);
  }
}

/* Every bind's host path with its links resolved while the host's root is still "/": a link
 * such as /tmp/bl-0/<box> -> /root/.boxlite/... would point nowhere from /oldroot. */
static void resolve_sources(struct jail_spec *spec) {
  for (size_t i = 0; i < spec->op_count; i++) {
    struct jail_op *op = &spec->ops[i];
    if (op->kind == JAIL_SYMLINK) continue;
    op->source = realpath(op->path, NULL);
    if (op->source == NULL && (errno != ENOENT || (op->kind != JAIL_RO_TRY && op->kind != JAIL_DEV_TRY))) fail("finding", op->path);
  }
}

static void pivot(const char *new_root, const char *put_old) {
  if (syscall(SYS_pivot_root, new_root, put_old) != 0) fail("pivoting to", new_root);
}

static void set_capabilities(uint64_t caps) {
  struct cap_header header = {.version = CAP_VERSION_3, .pid = 0};
  struct cap_data data[2] = {{0}};
  data[0].effective = data[0].permitted = (uint32_t)caps;
  data[1].effective = data[1].permitted = (uint32_t)(caps >> 32);
  if (syscall(SYS_capset, &header, data) != 0) fail("setting the capabilities", NULL);
}

static void drop_bounding_set(uint64_t keep) {
  for (int cap = 0; cap < 64; cap++) {
    if (keep & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      fail("dropping a capability", NULL);
    }
  }
}

/*
 * A root boxlite's member, once it is the box's uid without capabilities, could still make a
 * user namespace of its own (where the host allows unprivileged ones) and reach more of the
 * kernel from it. As bubblewrap's --disable-userns: it makes one itself, mapping just its own
 * ids and forbidding any other in it (map_to_itself), and drops the capabilities the new
 * namespace gave it. Its other namespaces stay the host's user
 * namespace's, so it has no power over them. A host that allows no unprivileged user
 * namespace (EPERM, ENOSPC) already forbids what this would.
 */
static void forbid_user_namespaces(const struct jail_spec *spec) {
  if (unshare(CLONE_NEWUSER) != 0) {
    if (errno == EPERM || errno == ENOSPC) return;
    fail("making the member's own user namespace", NULL);
  }
  /* Its change of uid made it undumpable, which gives its /proc files to root: its own again
   * (as any program it runs will be), so it can write its maps. */
  if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail("setting dumpable", NULL);
  map_to_itself(spec->uid, spec->gid);
  drop_bounding_set(0);
  set_capabilities(0);
}

static void build_view(struct jail_spec *spec) {
  resolve_sources(spec);
  /* Host mounts and unmounts still reach the view (none of its own goes back), so it never pins a host mount. */
  mount_or_fail(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL);
  mount_or_fail("tmpfs", "/tmp", "tmpfs", MS_NODEV | MS_NOSUID, "mode=0755");
  if (chdir("/tmp") != 0) fail("entering", "/tmp");
  make_dir("newroot", 0, NULL, NULL);
  make_dir("oldroot", 0, NULL, NULL);
  pivot("/tmp", "oldroot");
  if (chdir("/") != 0) fail("entering", "/");
  mount_or_fail("newroot", "newroot", NULL, MS_BIND | MS_REC, NULL);
  basics();
  for (size_t i = 0; i < spec->op_count; i++) apply(&spec->ops[i]);
  if (umount2(OLD, MNT_DETACH) != 0) fail("leaving", OLD);
  if (chdir(NEW) != 0) fail("entering", NEW);
  pivot(".", ".");
  if (umount2(".", MNT_DETACH) != 0) fail("leaving", "the assembly root");
  if (chdir("/") != 0) fail("entering", "/");
}

/* No capability but spec's (bounding set, ambient, and then the sets themselves), the uid
 * and groups it names, no new privileges: what setpriv --inh-caps=-all --bounding-set=-all
 * --no-new-privs did. For root, exec's permitted set is the bounding set. */
static void drop_privileges(const struct jail_spec *spec) {
  if (spec->set_uid && (setgroups(spec->group_count, spec->groups) != 0 || setresgid(spec->gid, spec->gid, spec->gid) != 0)) fail("setting the groups", NULL);
  drop_bounding_set(spec->keep_caps);
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail("clearing the ambient capabilities", NULL);
  if (spec->set_uid && setresuid(spec->uid, spec->uid, spec->uid) != 0) fail("setting the uid", NULL);
  set_capabilities(spec->keep_caps);
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("setting no_new_privs", NULL);
  if (spec->set_uid) forbid_user_namespaces(spec);
  close(proc_fd);
  /* A change of uid clears it: set again, so the member dies with vmm-watch. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail("setting the parent-death signal", NULL);
}

_Noreturn void jail_exec(struct jail_spec *spec, int gate_fd) {
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail("setting the parent-death signal", NULL);
  if ((proc_fd = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) fail("opening", "/proc");
  if (spec->userns) map_to_itself(spec->outer_uid, spec->outer_gid);
  mode_t umask_was = umask(0);
  build_view(spec);
  umask(umask_was);
  drop_privileges(spec);
  clearenv();
  for (size_t i = 0; i < spec->env_count; i++)
    if (putenv(spec->env[i]) != 0) fail("setting the environment", spec->env[i]);
  if (gate_fd >= 0) {
    char byte;
    ssize_t got;
    while ((got = read(gate_fd, &byte, 1)) < 0 && errno == EINTR) {
    }
    if (got != 1) _exit(125); /* the gate closed unopened: the group is being stopped */
    close(gate_fd);
  }
  execvp(spec->argv[0], spec->argv);
  fail("running", spec->argv[0]);
}
