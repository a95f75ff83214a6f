/* Byte relays between two sockets (the proxy's client and its destination, a tunnel's control
 * client and the box's port): each direction through a bounded buffer, end-of-file passed on
 * as a half-close, an error passed on as a reset. */
#ifndef BOXLITE_NETD_RELAY_H
#define BOXLITE_NETD_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "pollset.h"

/* Per direction; a relay holds two. */
#define RELAY_BUF (16u * 1024u)

struct relays;

struct relays *relays_new(void);
/* Ends every relay. */
void relays_free(struct relays *rs);
/* Relays a <-> b, both non-blocking, starting with `first` (at most RELAY_BUF bytes) on its
 * way from a to b. Takes both fds, and closes them when it cannot start. */
void relay_start(struct relays *rs, int a, int b, const uint8_t *first, size_t n);
void relays_fill(struct relays *rs, struct pollset *ps);

/* Closes fd so that its peer sees a reset, not an orderly end. */
void close_with_reset(int fd);

#endif
