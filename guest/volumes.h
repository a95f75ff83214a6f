/* A box's volumes: CONFIG's virtio-fs shares, mounted into the container (docs/volumes.md). */
#ifndef BOXLITE_VOLUMES_H
#define BOXLITE_VOLUMES_H

#include <stddef.h>

#include "message.h"

/* Mounts each share under /run/boxlite/volumes/<tag> and binds it (or its one file) at the
 * volume's path in the container, read-only and idmapped as asked. The rootfs is mounted.
 * Returns 0, or -1 with the reason in err and nothing of the volumes left mounted. */
int volumes_mount(const struct guest_config *cfg, char *err, size_t errlen);
/* Undoes volumes_mount, innermost first (lazily: a busy volume does not block power-off). */
void volumes_unmount(void);

#endif
