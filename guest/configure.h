/* Applying the box's configuration (CONFIG, docs/guest-protocol.md "Configuration"). */
#ifndef BOXLITE_CONFIGURE_H
#define BOXLITE_CONFIGURE_H

#include <stddef.h>

#include "message.h"

/* The session_ops configure of the agent: sets the hostname, mounts the rootfs and, when cfg
 * has a network, configures the interface and writes the rootfs's /etc/resolv.conf and
 * /etc/hosts. Returns 0, or -1 with err set: nothing is mounted then and the interface is down
 * without an address, so the same CONFIG (or another) may be tried again. */
int configure_apply(void *ctx, const struct guest_config *cfg, char *err, size_t errlen);

#endif
