/* Published ports (docs/network.md): libslirp host forwards to the box's 192.168.127.2, and
 * the ports file that says which host port each got. */
#ifndef BOXLITE_NETD_PUBLISH_H
#define BOXLITE_NETD_PUBLISH_H

#include <libslirp.h>
#include <stddef.h>

#include "args.h"

/* Binds every port (a port 0 gets the one the OS picked written back into specs), then
 * writes ports_file atomically. 0, or -1 with the contract's line in err
 * ("publish 127.0.0.1:8080 -> 80: Address already in use"). */
int publish_ports(Slirp *slirp, struct publish_spec *specs, size_t n, const char *ports_file, char *err, size_t errlen);

#endif
