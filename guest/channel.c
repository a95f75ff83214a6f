#include "channel.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define PORTS_DIR "/sys/class/virtio-ports"

/* <linux/vm_sockets.h>'s address, written out: musl ships no kernel headers. */
struct vsock_address {
  sa_family_t family;
  unsigned short reserved;
  unsigned int port;
  unsigned int cid;
  unsigned char zero[sizeof(struct sockaddr) - sizeof(sa_family_t) - sizeof(unsigned short) - 2 * sizeof(unsigned int)];
};
#define VSOCK_CID_ANY 0xffffffffu

/* The port's name from its directory's "name" file (there are no udev symlinks here); false
 * while it cannot be read or is still empty (QEMU names a port just after adding it). */
static bool port_name(const char *port, char *name, size_t cap) {
  char path[300];
  snprintf(path, sizeof path, PORTS_DIR "/%s/name", port);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, name, cap - 1);
  close(fd);
  if (n <= 0) return false;
  name[n] = '\0';
  name[strcspn(name, "\n")] = '\0';
  return name[0] != '\0';
}

static bool port_is_named(const char *port, const char *want) {
  char name[64];
  return port_name(port, name, sizeof name) && strcmp(name, want) == 0;
}

/* The port QEMU's box has: the agent's, after the console (port 0) on the first virtio-serial device. */
#define USUAL_PORT "vport0p1"

static int open_port(const char *port, char *path, size_t cap) {
  snprintf(path, cap, "/dev/%s", port);
  int fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) log_errno("open", path);
  return fd;
}

int channel_open_early(void) { return open("/dev/" USUAL_PORT, O_RDWR | O_NONBLOCK | O_CLOEXEC); }

int channel_open(char *path, size_t cap, int *early) {
  char name[64];
  bool named = port_name(USUAL_PORT, name, sizeof name);
  /* Looked at first, before a scan of every port: at boot every step is one TCG translates anew. */
  if (named && strcmp(name, CHANNEL_PORT_NAME) == 0) {
    if (*early < 0) return open_port(USUAL_PORT, path, cap);
    snprintf(path, cap, "/dev/" USUAL_PORT);
    int fd = *early;
    *early = -1;
    return fd;
  }
  if (*early >= 0) {
    /* Closing the agent's port would drop what the host sent into it: closed only once it is
     * known to be another port. */
    if (!named) return -1;
    close(*early);
    *early = -1;
  }
  DIR *dir = opendir(PORTS_DIR);
  if (!dir) return -1;
  int fd = -1;
  struct dirent *e;
  while (fd < 0 && (e = readdir(dir))) {
    if (e->d_name[0] == '.' || !port_is_named(e->d_name, CHANNEL_PORT_NAME)) continue;
    fd = open_port(e->d_name, path, cap);
  }
  closedir(dir);
  return fd;
}

#define EXEC_PORT "vport0p2"

int channel_open_exec(void) {
  char name[64], path[64];
  if (!port_name(EXEC_PORT, name, sizeof name)) {
    snprintf(path, sizeof path, PORTS_DIR "/" EXEC_PORT);
    return access(path, F_OK) == 0 ? CHANNEL_UNNAMED : CHANNEL_ABSENT;
  }
  if (strcmp(name, CHANNEL_EXEC_PORT_NAME) != 0) return CHANNEL_ABSENT;
  int fd = open_port(EXEC_PORT, path, sizeof path);
  return fd >= 0 ? fd : CHANNEL_ABSENT;
}

int channel_listen_vsock(unsigned port) {
  int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct vsock_address addr = {.family = AF_VSOCK, .port = port, .cid = VSOCK_CID_ANY};
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(fd, 1) < 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}
