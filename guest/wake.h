/* Waking a guest restored from saved memory (a template or a suspended box): what the saved
 * guest cannot know — the time, fresh randomness, and the disks of the box it now serves. */
#ifndef BOXLITE_WAKE_H
#define BOXLITE_WAKE_H

#include <stddef.h>

#include "message.h"

/* Applies req: the wall clock, the RNG (entropy credited, the CRNG reseeded at once), then,
 * with req->reprobe, every virtio disk but the system disk probed afresh: released (below)
 * if it is still bound, then bound to virtio_blk again, so the kernel reads the box's disk
 * size and has nothing cached of the stand-in. 0, or -1 with err. */
int wake_apply(const struct wake_request *req, char *err, size_t errlen);

/* Unbinds every virtio disk but the system disk from virtio_blk: what a template does at
 * boot (boxlite.template=1), so a box restored from it only binds its own disks (half the
 * cost of a reprobe). 0, or -1 with err. */
int wake_release_disks(char *err, size_t errlen);

#endif
