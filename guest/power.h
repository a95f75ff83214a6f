#ifndef BOXLITE_POWER_H
#define BOXLITE_POWER_H

/* Syncs and reboots, which with the kernel's reboot=t and QEMU's -no-reboot ends the VM.
 * PID 1 must never exit (the kernel would panic), so every way out of the agent ends here. */
_Noreturn void power_off(void);
/* SHUTDOWN: kill every process, sync, unmount the rootfs, then power_off(). */
_Noreturn void power_shutdown(void);

#endif
