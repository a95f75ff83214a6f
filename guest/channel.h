/*
 * The control channel to the host. With the qemu backend it is the virtio-serial port
 * named "agent0", one fd that reads EOF while the host is disconnected. With libkrun
 * (boxlite.vsock=PORT on the kernel command line) it is a vsock port the agent listens
 * on: libkrun bridges it to a unix socket on the host, and each host connection is
 * accepted as the channel fd (src/vmm/krun/, docs/guest-protocol.md).
 */
#ifndef BOXLITE_CHANNEL_H
#define BOXLITE_CHANNEL_H

#include <stddef.h>

#define CHANNEL_PORT_NAME "agent0"
/* The exec port: a second session for commands only, dialed directly by one host process at a
 * time (loop.h). QEMU adds it right after the agent's; libkrun's VMs have none. */
#define CHANNEL_EXEC_PORT_NAME "exec0"
#define CHANNEL_ABSENT (-1)
#define CHANNEL_UNNAMED (-2)

/* Opens the usual port's device (/dev/vport0p1) before anything else at boot, when it is
 * there: from the open on, QEMU hands the port what the host already sent (HELLO, CONFIG),
 * which takes it milliseconds under TCG that the agent's own setup then overlaps. Its name
 * cannot be checked yet (/sys is not mounted): channel_open does. -1 when it is not there. */
int channel_open_early(void);

/* Opens the port (O_RDWR, non-blocking, close-on-exec) and names its device in path; *early
 * (channel_open_early's fd, or -1) is taken when it is the port, closed when it is another,
 * and kept while its name is not known yet. Returns the fd, or -1 when the port is not there
 * (yet). */
int channel_open(char *path, size_t cap, int *early);

/* Opens the exec port (vport0p2 named exec0) like channel_open: its fd; CHANNEL_ABSENT when
 * the VM has no such port, CHANNEL_UNNAMED while the port is there but its name is not known
 * yet (the host names each port after the guest added it: look again). */
int channel_open_exec(void);

/* A non-blocking, close-on-exec AF_VSOCK listener on port (any CID); -1 with errno on failure. */
int channel_listen_vsock(unsigned port);

#endif
