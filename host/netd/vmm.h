/* The link to the box's VMM: a unix stream socket that QEMU (-netdev stream) and libkrun
 * (krun_add_net_unixstream) connect to, carrying Ethernet frames, each preceded by its
 * length as a 32-bit big-endian number. One VMM at a time; after it leaves, the next. */
#ifndef BOXLITE_NETD_VMM_H
#define BOXLITE_NETD_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pollset.h"

/* The largest frame either side may send: an Ethernet frame of the largest IP packet, which
 * a VMM with offloads could pass (the box's MTU keeps its own frames at 1514 bytes). */
#define VMM_FRAME_MAX (65535u + 14u)

/* A frame from the box, in the link's buffer: the handler may change it in place. */
typedef void (*frame_fn)(void *ctx, uint8_t *frame, size_t len);

struct vmm;

/* Listens on path (replacing a stale socket file). NULL with why in err. */
struct vmm *vmm_listen(const char *path, frame_fn on_frame, void *ctx, char *err, size_t errlen);
/* Closes everything and removes the socket file. */
void vmm_free(struct vmm *v);
void vmm_fill(struct vmm *v, struct pollset *ps);
/* Queues one frame; false when it was dropped (no VMM, or it is not reading). */
bool vmm_send(struct vmm *v, const uint8_t *frame, size_t len);
/* Writes what is queued, as far as the VMM takes it. */
void vmm_flush(struct vmm *v);

#endif
