/*
 * The control channel to the host. With the qemu backend it is the virtio-serial port
 * named "agent0"; a vsock listener for libkrun would be another opener here, the rest of
 * the agent only sees a non-blocking fd that reads EOF while the host is disconnected.
 */
#ifndef BOXLITE_CHANNEL_H
#define BOXLITE_CHANNEL_H

#include <stddef.h>

#define CHANNEL_PORT_NAME "agent0"

/* Opens the port (O_RDWR, non-blocking, close-on-exec) and names its device in path.
 * Returns the fd, or -1 when the port is not there (yet). */
int channel_open(char *path, size_t cap);

#endif
