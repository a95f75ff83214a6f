/* Tunnels (docs/network.md "Control socket", `tunnel PORT`): a TCP connection into the box's
 * port, carried over the control client's own socket. netd opens a one-off libslirp host
 * forward on 127.0.0.1 (a port the OS picks), connects to it itself, lets libslirp accept that
 * connection only, removes the forward, and answers `ok` once the box answers the SYN. */
#ifndef BOXLITE_NETD_TUNNEL_H
#define BOXLITE_NETD_TUNNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "netd.h"
#include "pollset.h"

struct tunnels;

struct tunnels *tunnels_new(struct netd *n);
void tunnels_free(struct tunnels *t);
/* Starts a tunnel to the box's port for the control client fd (which it takes): `early` is
 * what the client sent after its command line, passed on once the tunnel is open. */
void tunnels_open(struct tunnels *t, int fd, uint16_t port, const uint8_t *early, size_t n);
/* Whether libslirp may take the connection from peer on listening socket fd: a tunnel's
 * forward takes its own connection only. */
bool tunnels_admit(struct tunnels *t, int fd, const struct sockaddr_storage *peer);
/* Reads the box's answer (SYN+ACK or RST) to a tunnel's connection from its frames. */
void tunnels_watch(struct tunnels *t, const uint8_t *frame, size_t len);
void tunnels_fill(struct tunnels *t, struct pollset *ps, int64_t now);

#endif
