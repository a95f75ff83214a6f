/*
 * /init for a guest whose root is an fsd share (fsd-vhost.test.ts): reads /hello.txt from
 * the share, prints it on the console, and reboots (which ends QEMU under -no-reboot).
 * Static: the share holds nothing else.
 */
#include <fcntl.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
  /* /dev/kmsg needs devtmpfs; the kernel prints a level-2 line even under `quiet`. */
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  char line[256] = "<2>fsd guest init read: ";
  size_t len = strlen(line);
  int file = open("/hello.txt", O_RDONLY);
  ssize_t n = file >= 0 ? read(file, line + len, sizeof line - len - 1) : -1;
  if (n > 0) len += (size_t)n;
  int kmsg = open("/dev/kmsg", O_WRONLY);
  if (kmsg >= 0 && write(kmsg, line, len) < 0) len = 0;
  reboot(RB_AUTOBOOT);
  return 1;
}
