/* The boot benchmark's floor (scripts/bench/floor.ts): PID 1 that powers the VM off at once,
 * the way the guest agent does (reboot=t on the kernel command line and RB_AUTOBOOT, see
 * docs/kernel.md), so that a boot with it costs only the kernel, QEMU and the devices. */
#include <sys/reboot.h>
#include <unistd.h>

int main(void) {
  reboot(RB_AUTOBOOT);
  for (;;) pause();
}
