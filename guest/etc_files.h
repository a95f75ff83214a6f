/* The box's /etc/resolv.conf and /etc/hosts, written from CONFIG's network as docker writes them. */
#ifndef BOXLITE_ETC_FILES_H
#define BOXLITE_ETC_FILES_H

#include <stddef.h>

#include "message.h"

/* Writes root/etc/resolv.conf (the nameservers, the search names) and root/etc/hosts
 * (localhost, and the network's address for the hostname) for cfg, which has a network, mode
 * 0644, owner root. A regular file with no other link is rewritten in place, a missing one
 * written at once; anything else is replaced by a temporary file renamed over it: a symlink at either name is replaced, never
 * followed, since it could point out of the rootfs or at a read-only place. root/etc is created when the image has none; a symlink there is refused, not
 * followed. Returns 0, or -1 with err set; resolv.conf stays written when hosts fails. */
int etc_files_write(const char *root, const struct guest_config *cfg, char *err, size_t errlen);

#endif
