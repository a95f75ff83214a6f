/* The control socket (docs/network.md "Control socket"): a client writes one line, `stats`
 * or `tunnel PORT`, and reads the answer. */
#ifndef BOXLITE_NETD_CONTROL_H
#define BOXLITE_NETD_CONTROL_H

#include <stdint.h>

#include "netd.h"
#include "pollset.h"

struct control;

/* Listens on path (replacing a stale socket file). NULL with why in err. */
struct control *control_listen(const char *path, struct netd *n, char *err, size_t errlen);
/* Closes every client and removes the socket file. */
void control_free(struct control *c);
void control_fill(struct control *c, struct pollset *ps, int64_t now);

#endif
