#include "hooks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "egress.h"
#include "proxy.h"
#include "resolver.h"
#include "tunnel.h"

/* The interposed calls have libc's signatures and no context of their own, so the netd they
 * decide for is the one global here. */
static struct netd *hooked;
static struct hooks_listen last_listen = {.fd = -1};

void hooks_attach(struct netd *n) {
  hooked = n;
}

void hooks_listen_reset(void) {
  last_listen = (struct hooks_listen){.fd = -1};
}

struct hooks_listen hooks_last_listen(void) {
  return last_listen;
}

int real_connect(int fd, const struct sockaddr *addr, socklen_t len) {
  return (int)syscall(SYS_connect, fd, addr, len);
}

static int refuse(void) {
  /* libslirp answers ECONNREFUSED with a reset to the box. */
  errno = ECONNREFUSED;
  return -1;
}

static int connect_as_decided(struct netd *n, int fd, const struct sockaddr_in *dst) {
  switch (egress_decide(n->policy, dst->sin_addr, ntohs(dst->sin_port))) {
  case EGRESS_DIRECT:
    return real_connect(fd, (const struct sockaddr *)dst, sizeof *dst);
  case EGRESS_PROXY:
    return proxy_divert(n->proxy, fd, dst);
  case EGRESS_DNS: {
    const struct sockaddr_in *upstream = resolver_tcp_upstream(n->resolver);
    return upstream ? real_connect(fd, (const struct sockaddr *)upstream, sizeof *upstream) : refuse();
  }
  case EGRESS_REFUSE:
    break;
  }
  return refuse();
}

/* libslirp connects a host socket for each TCP connection the box opens (tcp_fconnect). */
int connect(int fd, const struct sockaddr *addr, socklen_t len) {
  struct netd *n = hooked;
  if (!n || !addr || addr->sa_family != AF_INET || len < sizeof(struct sockaddr_in)) return real_connect(fd, addr, len);
  struct sockaddr_in dst;
  memcpy(&dst, addr, sizeof dst);
  n->stats.tcp_connections++;
  int r = connect_as_decided(n, fd, &dst);
  if (r < 0 && errno != EINPROGRESS) n->stats.tcp_errors++;
  return r;
}

/* libslirp listens once per host forward (tcpx_listen); with port 0 only the socket knows
 * which port the OS chose. */
int listen(int fd, int backlog) {
  int r = (int)syscall(SYS_listen, fd, backlog);
  if (r < 0) return r;
  struct sockaddr_in addr;
  socklen_t len = sizeof addr;
  int saved = errno;
  if (getsockname(fd, (struct sockaddr *)&addr, &len) == 0 && addr.sin_family == AF_INET) {
    last_listen = (struct hooks_listen){.fd = fd, .port = ntohs(addr.sin_port)};
  }
  errno = saved;
  return r;
}

/* libslirp accepts a connection to a published port or a tunnel (tcp_connect). */
int accept(int fd, struct sockaddr *addr, socklen_t *addrlen) {
  struct sockaddr_storage peer;
  socklen_t peerlen = sizeof peer;
  int s = accept4(fd, (struct sockaddr *)&peer, &peerlen, 0);
  if (s < 0) return s;
  struct netd *n = hooked;
  if (n && !tunnels_admit(n->tunnels, fd, &peer)) {
    close(s);
    /* libslirp forgets the half-made connection; the tunnel's own one is still to come. */
    errno = EAGAIN;
    return -1;
  }
  if (n) n->stats.tcp_connections++;
  if (addr && addrlen) {
    memcpy(addr, &peer, peerlen < *addrlen ? peerlen : *addrlen);
    *addrlen = peerlen;
  }
  return s;
}

/* libslirp learns how a connect() ended by sending 0 bytes once the socket is writable
 * (slirp_pollfds_poll, SS_ISFCONNECTING): an error there is a connection that failed. */
ssize_t send(int fd, const void *buf, size_t len, int flags) {
  ssize_t r = sendto(fd, buf, len, flags, NULL, 0);
  if (r < 0 && len == 0 && hooked && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINPROGRESS && errno != ENOTCONN) {
    hooked->stats.tcp_errors++;
  }
  return r;
}
