/*
 * /init for a guest whose root is fsd's device (fsd-vhost.test.ts), run as init=/data/init:
 * prints the root's entries (one per share) and /data/hello.txt from the share "data" on the
 * console, and reboots (which ends QEMU under -no-reboot). Static: the share holds nothing else.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
  /* /dev/kmsg needs devtmpfs; the root is fsd's read-only directory of shares, so it goes in
   * the share. The kernel prints a level-2 line even under `quiet`. */
  mount("devtmpfs", "/data/dev", "devtmpfs", 0, NULL);
  char line[512] = "<2>fsd guest root:";
  DIR *root = opendir("/");
  for (struct dirent *e; root && (e = readdir(root));) {
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) snprintf(line + strlen(line), sizeof line - strlen(line), " %s", e->d_name);
  }
  if (root) closedir(root);
  snprintf(line + strlen(line), sizeof line - strlen(line), "; read: ");
  size_t len = strlen(line);
  int file = open("/data/hello.txt", O_RDONLY);
  ssize_t n = file >= 0 ? read(file, line + len, sizeof line - len - 1) : -1;
  if (n > 0) len += (size_t)n;
  int kmsg = open("/data/dev/kmsg", O_WRONLY);
  if (kmsg >= 0 && write(kmsg, line, len) < 0) len = 0;
  reboot(RB_AUTOBOOT);
  return 1;
}
