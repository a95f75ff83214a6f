/* netd's own unix sockets: the VMM's and the control socket. */
#ifndef BOXLITE_NETD_UNIXSOCK_H
#define BOXLITE_NETD_UNIXSOCK_H

#include <stddef.h>

/* A non-blocking listening stream socket at path, replacing a stale socket file there (a
 * box's paths are its own). The fd, or -1 with why in err, which names `option`. */
int unix_listen(const char *path, int backlog, const char *option, char *err, size_t errlen);

#endif
