/*
 * fsd-idmap-probe SOURCE TARGET UID: binds SOURCE at TARGET idmapped so that host uid/gid 0
 * shows as UID (what the guest agent does to a share with MOUNT_ATTR_IDMAP). A FUSE mount takes
 * an idmap only when its server sent FUSE_ALLOW_IDMAP at INIT: fs-server.test.ts uses this to
 * check that fsd does. Tests only; root only.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_file(const char *path, const char *text) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = write(fd, text, strlen(text));
  close(fd);
  return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* A user namespace mapping 0 to uid, held by a child that waits on `hold`; its ns descriptor. */
static int make_userns(unsigned uid, pid_t *child) {
  int ready[2], hold[2];
  if (pipe(ready) < 0 || pipe(hold) < 0) return -1;
  *child = fork();
  if (*child < 0) return -1;
  if (*child == 0) {
    char c;
    if (unshare(CLONE_NEWUSER) < 0) _exit(1);
    if (write(ready[1], "x", 1) != 1) _exit(1);
    while (read(hold[0], &c, 1) < 0 && errno == EINTR) continue;
    _exit(0);
  }
  char c, path[64], map[64];
  if (read(ready[0], &c, 1) != 1) return -1;
  snprintf(map, sizeof map, "0 %u 1\n", uid);
  snprintf(path, sizeof path, "/proc/%d/uid_map", (int)*child);
  if (write_file(path, map) < 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/setgroups", (int)*child);
  if (write_file(path, "deny") < 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/gid_map", (int)*child);
  if (write_file(path, map) < 0) return -1;
  snprintf(path, sizeof path, "/proc/%d/ns/user", (int)*child);
  return open(path, O_RDONLY | O_CLOEXEC);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fsd-idmap-probe SOURCE TARGET UID\n");
    return 2;
  }
  pid_t child;
  int userns = make_userns((unsigned)strtoul(argv[3], NULL, 10), &child);
  if (userns < 0) {
    perror("user namespace");
    return 1;
  }
  int tree = open_tree(AT_FDCWD, argv[1], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
  struct mount_attr attr = {.attr_set = MOUNT_ATTR_IDMAP, .userns_fd = (uint64_t)userns};
  int status = 0;
  if (tree < 0 || mount_setattr(tree, "", AT_EMPTY_PATH, &attr, sizeof attr) < 0 ||
      move_mount(tree, "", AT_FDCWD, argv[2], MOVE_MOUNT_F_EMPTY_PATH) < 0) {
    fprintf(stderr, "fsd-idmap-probe: %s\n", strerror(errno));
    status = 1;
  }
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  return status;
}
