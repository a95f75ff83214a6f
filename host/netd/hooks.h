/* libslirp's socket calls, interposed: netd defines connect, listen, accept and send, so the
 * dynamic linker binds libslirp's calls to them (an executable's symbols come first), and
 * each reaches the kernel itself. This is where a box's TCP connection is decided (egress.h)
 * and counted, where a host forward's port is learned, and where a tunnel's listener
 * refuses connections that are not netd's own. */
#ifndef BOXLITE_NETD_HOOKS_H
#define BOXLITE_NETD_HOOKS_H

#include <stdint.h>
#include <sys/socket.h>

#include "netd.h"

/* From here on libslirp's calls are decided for n; before, they pass straight through. */
void hooks_attach(struct netd *n);

/* connect() without netd's decision: netd's own connections. */
int real_connect(int fd, const struct sockaddr *addr, socklen_t len);

/* The socket libslirp last put to listen (a host forward's), port in host order; fd -1 when
 * none since hooks_listen_reset. */
struct hooks_listen {
  int fd;
  uint16_t port;
};
void hooks_listen_reset(void);
struct hooks_listen hooks_last_listen(void);

#endif
