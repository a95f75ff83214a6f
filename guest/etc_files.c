#include "etc_files.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Both files are the agent's, not the image's: a user who edits one should know why it reverts. */
#define HEADER "# Written by boxlite at every boot from the box's network settings.\n"

static void print_resolv_conf(FILE *f, const struct guest_config *cfg) {
  const struct guest_network *net = &cfg->network;
  fputs(HEADER, f);
  for (size_t i = 0; i < net->nameserver_count; i++) {
    char address[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &net->nameservers[i], address, sizeof address);
    fprintf(f, "nameserver %s\n", address);
  }
  if (net->search[0]) fprintf(f, "search %s\n", net->search);
}

static void print_hosts(FILE *f, const struct guest_config *cfg) {
  char address[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &cfg->network.address, address, sizeof address);
  fprintf(f, HEADER "127.0.0.1\tlocalhost\n::1\tlocalhost\n%s\t%s\n", address, cfg->hostname);
}

/* Writes a temporary file in dir and renames it over name: a reader sees the old file or the
 * new one, and rename replaces a symlink at name instead of following it. No fsync: the file
 * is written again at every boot, so one a crash empties comes back at the next. Returns 0 or
 * -errno; on failure name is untouched and the temporary file gone. */
static int replace_file(int dir, const char *name, void (*print)(FILE *, const struct guest_config *),
                        const struct guest_config *cfg) {
  char tmp[32];
  snprintf(tmp, sizeof tmp, ".%s.boxlite", name);
  /* What a boot that stopped midway may have left (O_EXCL below follows nothing either). */
  if (unlinkat(dir, tmp, 0) < 0 && errno != ENOENT) return -errno;
  int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return -errno;
  FILE *f = fdopen(fd, "w");
  int e = f ? 0 : errno;
  if (f) {
    print(f, cfg);
    /* Both files fit in stdio's buffer, so a write error (a full disk) shows when it is closed. */
    e = ferror(f) ? EIO : 0;
    if (fchmod(fd, 0644) < 0 && !e) e = errno; /* open's mode is masked by the umask */
    if (fclose(f) != 0 && !e) e = errno;
  } else {
    close(fd);
  }
  if (!e && renameat(dir, tmp, dir, name) < 0) e = errno;
  if (e) unlinkat(dir, tmp, 0);
  return -e;
}

/* Opens root/etc, creating it when the image has none. Returns the fd or -errno. */
static int open_etc(const char *root) {
  int top = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (top < 0) return -errno;
  int dir = -1;
  if (mkdirat(top, "etc", 0755) == 0 || errno == EEXIST)
    dir = openat(top, "etc", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  int e = errno;
  close(top);
  return dir < 0 ? -e : dir;
}

int etc_files_write(const char *root, const struct guest_config *cfg, char *err, size_t errlen) {
  int dir = open_etc(root);
  if (dir == -ENOTDIR || dir == -ELOOP) {
    snprintf(err, errlen, "%s/etc is not a directory (a symlink there is not followed)", root);
    return -1;
  }
  if (dir < 0) {
    snprintf(err, errlen, "open %s/etc: %s", root, strerror(-dir));
    return -1;
  }
  const char *name = "resolv.conf";
  int rc = replace_file(dir, name, print_resolv_conf, cfg);
  if (rc == 0) {
    name = "hosts";
    rc = replace_file(dir, name, print_hosts, cfg);
  }
  close(dir);
  if (rc < 0) snprintf(err, errlen, "write %s/etc/%s: %s", root, name, strerror(-rc));
  return rc < 0 ? -1 : 0;
}
