/* The agent's settings on the kernel command line (boxlite.*=...): only what it needs before
 * the channel exists. The box's own settings come later, in CONFIG. */
#ifndef BOXLITE_CMDLINE_H
#define BOXLITE_CMDLINE_H

#include <stdbool.h>

struct boot_config {
  bool probe;        /* boxlite.probe=1: report and power off right away */
  bool template;     /* boxlite.template=1: a memory template boots; do what every box would (main.c) */
  unsigned vsock_port; /* boxlite.vsock=PORT: listen on this vsock port (libkrun); 0: the virtio-serial port */
};

/* Fills cfg from a command line such as /proc/cmdline; unknown keys are ignored. */
void cmdline_parse(const char *text, struct boot_config *cfg);

#endif
