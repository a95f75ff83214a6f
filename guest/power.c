#include "power.h"

#include <stdlib.h>
#include <sys/reboot.h>
#include <unistd.h>

#include "log.h"
#include "mounts.h"
#include "reap.h"

_Noreturn void power_off(void) {
  sync();
  /* There is no ACPI: RB_AUTOBOOT + reboot=t is the fast way out (docs/kernel.md). */
  reboot(RB_AUTOBOOT);
  log_errno("reboot", NULL);
  if (getpid() != 1) exit(1); /* run outside a VM (tests): just leave */
  for (;;) pause();
}

_Noreturn void power_shutdown(void) {
  reap_kill_all(2000);
  sync();
  mounts_unmount_rootfs();
  power_off();
}
