/*
 * netd: one box's network on the host (docs/network.md "The network process: netd").
 * libslirp is its TCP/IP stack; around it netd filters the box's frames, answers its DNS,
 * decides its connections, publishes its ports and serves figures and tunnels.
 *
 * Exit status: 0 on SIGTERM or SIGINT; 1 when a port cannot be published or a socket cannot
 * be made; 2 on a bad argument. One line on stderr says why.
 */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "control.h"
#include "filter.h"
#include "frag.h"
#include "hooks.h"
#include "netd.h"
#include "packet.h"
#include "pollset.h"
#include "proxy.h"
#include "publish.h"
#include "relay.h"
#include "resolver.h"
#include "tunnel.h"
#include "vmm.h"

static volatile sig_atomic_t stopping;

static void on_stop(int sig) {
  (void)sig;
  stopping = 1;
}

void netd_to_box(struct netd *n, const uint8_t *frame, size_t len) {
  if (vmm_send(n->vmm, frame, len)) n->stats.bytes_received += len;
}

static void on_box_frame(void *ctx, uint8_t *frame, size_t len) {
  struct netd *n = ctx;
  n->stats.bytes_sent += len;
  tunnels_watch(n->tunnels, frame, len);
  struct ipv4_view ip;
  bool ipv4 = packet_ipv4(frame, len, &ip) == 0;
  if (ipv4 && ip.fragment) {
    frame = frags_add(n->frags, frame, &ip, clock_ms(), &len);
    if (!frame) return;
    ipv4 = packet_ipv4(frame, len, &ip) == 0;
  }
  struct l4_view tcp;
  if (ipv4 && packet_tcp(&ip, &tcp) == 0 && (tcp.tcp_flags & TCP_FLAG_URG)) packet_tcp_drop_urgent(frame, &ip);
  switch (filter_frame(n->policy, frame, len)) {
  case FRAME_SLIRP:
    slirp_input(n->slirp, frame, (int)len);
    break;
  case FRAME_DNS:
    resolver_query(n->resolver, frame, len);
    break;
  case FRAME_DROP:
    break;
  }
}

/* libslirp's callbacks. */

static ssize_t slirp_send(const void *buf, size_t len, void *opaque) {
  netd_to_box(opaque, buf, len);
  return (ssize_t)len;
}

/* What the box does wrong is its own business; netd has no log to fill with it. */
static void slirp_guest_error(const char *msg, void *opaque) {
  (void)msg;
  (void)opaque;
}

static int64_t slirp_clock_ns(void *opaque) {
  (void)opaque;
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* libslirp's one timer sends IPv6 router advertisements, and IPv6 is off: it makes none. */
static void *slirp_timer_new(SlirpTimerId id, void *cb_opaque, void *opaque) {
  (void)id;
  (void)cb_opaque;
  (void)opaque;
  return NULL;
}

static void slirp_timer_free(void *timer, void *opaque) {
  (void)timer;
  (void)opaque;
}

static void slirp_timer_mod(void *timer, int64_t expire_ms, void *opaque) {
  (void)timer;
  (void)expire_ms;
  (void)opaque;
}

/* netd asks libslirp for its fds before every poll (slirp_pollfds_fill), so it needs neither
 * registrations nor a nudge when a buffer frees up. */
static void slirp_fd_noop(int fd, void *opaque) {
  (void)fd;
  (void)opaque;
}

static void slirp_notify(void *opaque) {
  (void)opaque;
}

static const SlirpCb slirp_callbacks = {
    .send_packet = slirp_send,
    .guest_error = slirp_guest_error,
    .clock_get_ns = slirp_clock_ns,
    .timer_free = slirp_timer_free,
    .timer_mod = slirp_timer_mod,
    .register_poll_fd = slirp_fd_noop,
    .unregister_poll_fd = slirp_fd_noop,
    .notify = slirp_notify,
    .timer_new_opaque = slirp_timer_new,
};

static int slirp_add(int fd, int events, void *opaque) {
  short ev = (short)((events & SLIRP_POLL_IN ? POLLIN : 0) | (events & SLIRP_POLL_OUT ? POLLOUT : 0) |
                     (events & SLIRP_POLL_PRI ? POLLPRI : 0));
  return pollset_add(opaque, fd, ev, NULL, NULL);
}

static int slirp_revents(int idx, void *opaque) {
  short re = pollset_revents(opaque, idx);
  return (re & POLLIN ? SLIRP_POLL_IN : 0) | (re & POLLOUT ? SLIRP_POLL_OUT : 0) | (re & POLLPRI ? SLIRP_POLL_PRI : 0) |
         (re & (POLLERR | POLLNVAL) ? SLIRP_POLL_ERR : 0) | (re & POLLHUP ? SLIRP_POLL_HUP : 0);
}

static Slirp *new_slirp(struct netd *n) {
  SlirpConfig cfg = {
      .version = 4,
      .in_enabled = true,
      .vnetwork = {htonl(NET_SUBNET)},
      .vnetmask = {htonl(NET_NETMASK)},
      /* The host alias: libslirp answers ARP for it and connects what is sent to it to the
       * host's 127.0.0.1 (sotranslate_out). */
      .vhost = {htonl(NET_HOST_ALIAS)},
      /* The gateway: libslirp answers ARP and pings for it; its DNS is netd's (disable_dns). */
      .vnameserver = {htonl(NET_GATEWAY)},
      .disable_dns = true,
      /* The box is configured statically. */
      .disable_dhcp = true,
  };
  return slirp_new(&cfg, &slirp_callbacks, n);
}

/* SIGTERM and SIGINT are only taken while netd waits, so the wait sees them at once. */
static void setup_signals(sigset_t *wait_mask) {
  struct sigaction sa = {.sa_handler = on_stop};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  sigset_t block;
  sigemptyset(&block);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGINT);
  sigprocmask(SIG_BLOCK, &block, wait_mask);
  sigdelset(wait_mask, SIGTERM);
  sigdelset(wait_mask, SIGINT);
}

static void run(struct netd *n, struct control *control, const sigset_t *wait_mask) {
  struct pollset ps;
  pollset_init(&ps);
  while (!stopping) {
    pollset_reset(&ps);
    int64_t now = clock_ms();
    /* Before libslirp lists its fds: a tunnel may remove a forward, and with it an fd. */
    tunnels_fill(n->tunnels, &ps, now);
    uint32_t timeout = UINT32_MAX;
    slirp_pollfds_fill(n->slirp, &timeout, slirp_add, &ps);
    if (timeout != UINT32_MAX) pollset_until(&ps, now + timeout);
    vmm_fill(n->vmm, &ps);
    resolver_fill(n->resolver, &ps, now);
    if (n->proxy) proxy_fill(n->proxy, &ps, now);
    relays_fill(n->relays, &ps);
    control_fill(control, &ps, now);
    int ready = pollset_wait(&ps, wait_mask);
    slirp_pollfds_poll(n->slirp, ready < 0, slirp_revents, &ps);
    pollset_dispatch(&ps);
    vmm_flush(n->vmm);
  }
  pollset_free(&ps);
}

/* Ends every part that was made, in the order that lets each still reach what it uses. */
static void teardown(struct netd *n, struct control *control) {
  if (n->vmm) vmm_free(n->vmm);
  if (control) control_free(control);
  if (n->tunnels) tunnels_free(n->tunnels);
  if (n->relays) relays_free(n->relays);
  if (n->proxy) proxy_free(n->proxy);
  if (n->resolver) resolver_free(n->resolver);
  if (n->slirp) slirp_cleanup(n->slirp);
  if (n->frags) frags_free(n->frags);
  policy_free(n->policy);
}

/* Makes every part, in the contract's order: published ports and the ports file, then the
 * control socket, and the VMM's socket last (the watchdog's sign that netd is ready). Exit
 * status on failure, 0 when ready. */
static int start(struct netd *n, struct netd_args *args, struct control **control, char *err, size_t errlen) {
  n->slirp = new_slirp(n);
  n->relays = relays_new();
  n->tunnels = tunnels_new(n);
  n->frags = frags_new();
  if (!n->slirp || !n->relays || !n->tunnels || !n->frags) {
    snprintf(err, errlen, "out of memory");
    return 1;
  }
  hooks_attach(n);
  if (publish_ports(n->slirp, args->publish, args->publish_count, args->ports_file, err, errlen) < 0) return 1;
  /* The proxy is for name-checked ports under an allow-list only. */
  if (policy_restricted(n->policy) && !(n->proxy = proxy_new(n, err, errlen))) return 1;
  if (!(n->resolver = resolver_new(n, args->dns, args->dns_count, err, errlen))) return 1;
  if (!(*control = control_listen(args->control_path, n, err, errlen))) return 1;
  if (!(n->vmm = vmm_listen(args->socket_path, on_box_frame, n, err, errlen))) return 1;
  return 0;
}

int main(int argc, char **argv) {
  char err[512];
  struct netd n = {.policy = policy_new()};
  struct netd_args args;
  struct control *control = NULL;
  if (!n.policy) {
    fprintf(stderr, "netd: out of memory\n");
    return 1;
  }
  int status = args_parse(argc, argv, "/etc/resolv.conf", &args, n.policy, err, sizeof err) < 0 ? 2 : 0;
  if (status == 0) {
    sigset_t wait_mask;
    setup_signals(&wait_mask);
    status = start(&n, &args, &control, err, sizeof err);
    if (status == 0) run(&n, control, &wait_mask);
  }
  if (status) fprintf(stderr, "netd: %s\n", err);
  teardown(&n, control);
  return status;
}
