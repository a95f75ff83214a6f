/* Waking a guest restored from saved memory (a template or a suspended box): what the saved
 * guest cannot know — the time, fresh randomness, and the disks of the box it now serves. */
#ifndef BOXLITE_WAKE_H
#define BOXLITE_WAKE_H

#include <stddef.h>

#include "message.h"

/* Applies req: the wall clock, the RNG (entropy credited, the CRNG reseeded at once), then
 * each of req->disks, a template's stand-in now backed by the box's disk: once the kernel
 * shows the box's size (the host's config change), every page cached of the stand-in is
 * dropped (BLKFLSBUF). 0, or -1 with err. */
int wake_apply(const struct wake_request *req, char *err, size_t errlen);

#endif
