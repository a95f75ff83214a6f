#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <net/route.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static void name_request(struct ifreq *ifr, const char *name) {
  memset(ifr, 0, sizeof *ifr);
  strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
}

static void put_address(struct sockaddr *sa, struct in_addr address) {
  struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr = address};
  memcpy(sa, &sin, sizeof sin);
}

/* Sets or clears IFF_UP, keeping the interface's other flags. */
static int set_up(int fd, const char *name, bool up) {
  struct ifreq ifr;
  name_request(&ifr, name);
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0) return -1;
  ifr.ifr_flags = (short)(up ? ifr.ifr_flags | IFF_UP : ifr.ifr_flags & ~IFF_UP);
  return ioctl(fd, SIOCSIFFLAGS, &ifr);
}

/* Brings interface `name` up through a socket of its own; a failure is logged. Returns 0 or -1. */
static int bring_up(const char *name) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log_errno("socket", name);
    return -1;
  }
  int rc = set_up(fd, name, true);
  if (rc < 0) log_errno("ioctl(SIOCSIFFLAGS)", name);
  close(fd);
  return rc;
}

int net_up_loopback(void) { return bring_up("lo"); }

static bool loopback_pending;

void net_loopback_later(void) { loopback_pending = true; }

bool net_loopback_pending(void) { return loopback_pending; }

void net_loopback_now(void) {
  if (!loopback_pending) return;
  loopback_pending = false;
  net_up_loopback();
}

/* virtio-net devices are probed before init runs, like virtio-blk (mounts.c); allow the same
 * short wait anyway. */
static bool wait_for_interface(const char *name) {
  struct timespec tick = {0, 10 * 1000 * 1000};
  for (int i = 0; i < 200; i++) {
    if (if_nametoindex(name) != 0) return true;
    nanosleep(&tick, NULL);
  }
  return false;
}

/* The ioctl that failed: logged, and "<op> on <interface>: <reason>" written to err. Returns -1. */
static int fail(const char *op, const char *name, char *err, size_t errlen) {
  int e = errno;
  log_errno(op, name);
  snprintf(err, errlen, "%s on %s: %s", op, name, strerror(e));
  return -1;
}

/* The box has IPv4 only (the host's stack drops IPv6). Left on, bringing the interface up
 * starts IPv6 autoconfiguration (DAD, router solicitations, MLD): frames nobody answers, and
 * tens of milliseconds of kernel work under emulation in every box's start. A kernel
 * without IPv6 has no such file: nothing to turn off. */
static void disable_ipv6(const char *name) {
  char path[64 + IFNAMSIZ];
  snprintf(path, sizeof path, "/proc/sys/net/ipv6/conf/%s/disable_ipv6", name);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return;
  if (write(fd, "1\n", 2) != 2) log_errno("write", path);
  close(fd);
}

/* The interface net_prepare brought up with IPv6 off ("" for none): CONFIG skips both for it. */
static char prepared[IFNAMSIZ];

void net_prepare(const char *name) {
  if (if_nametoindex(name) == 0) return; /* a VM without a NIC */
  disable_ipv6(name);
  if (bring_up(name) == 0) snprintf(prepared, sizeof prepared, "%s", name);
}

static int configure_interface(int fd, const struct guest_network *net, char *err, size_t errlen) {
  const char *name = net->interface;
  bool ready = strcmp(prepared, name) == 0;
  if (!ready) disable_ipv6(name);
  struct ifreq ifr;
  name_request(&ifr, name);
  put_address(&ifr.ifr_addr, net->address);
  if (ioctl(fd, SIOCSIFADDR, &ifr) < 0) return fail("ioctl(SIOCSIFADDR)", name, err, errlen);
  /* SIOCSIFADDR gave the address its classful mask; this one replaces it (and the broadcast). */
  put_address(&ifr.ifr_netmask, (struct in_addr){htonl(UINT32_MAX << (32 - net->prefix))});
  if (ioctl(fd, SIOCSIFNETMASK, &ifr) < 0) return fail("ioctl(SIOCSIFNETMASK)", name, err, errlen);
  name_request(&ifr, name);
  ifr.ifr_mtu = net->mtu;
  if (ioctl(fd, SIOCSIFMTU, &ifr) < 0) return fail("ioctl(SIOCSIFMTU)", name, err, errlen);
  /* Up before the route: the gateway is reachable through the subnet's route, which the
   * kernel adds only for an interface that is up. */
  if (!ready && set_up(fd, name, true) < 0) return fail("ioctl(SIOCSIFFLAGS)", name, err, errlen);
  struct rtentry rt;
  memset(&rt, 0, sizeof rt);
  char dev[IFNAMSIZ];
  snprintf(dev, sizeof dev, "%s", name);
  put_address(&rt.rt_dst, (struct in_addr){INADDR_ANY});
  put_address(&rt.rt_genmask, (struct in_addr){INADDR_ANY});
  put_address(&rt.rt_gateway, net->gateway);
  rt.rt_flags = RTF_UP | RTF_GATEWAY;
  rt.rt_dev = dev;
  if (ioctl(fd, SIOCADDRT, &rt) < 0) return fail("ioctl(SIOCADDRT)", name, err, errlen);
  return 0;
}

void net_reset(const char *name) {
  if (strcmp(prepared, name) == 0) prepared[0] = '\0'; /* down now: CONFIG brings it up again */
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    log_errno("socket", name);
    return;
  }
  if (set_up(fd, name, false) < 0) log_errno("ioctl(SIOCSIFFLAGS)", name);
  struct ifreq ifr;
  name_request(&ifr, name);
  put_address(&ifr.ifr_addr, (struct in_addr){INADDR_ANY});
  if (ioctl(fd, SIOCSIFADDR, &ifr) < 0) log_errno("ioctl(SIOCSIFADDR)", name);
  close(fd);
}

int net_configure(const struct guest_network *net, char *err, size_t errlen) {
  if (!wait_for_interface(net->interface)) {
    snprintf(err, errlen, "network interface %s does not exist (waited 2 s)", net->interface);
    return -1;
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail("socket", net->interface, err, errlen);
  int rc = configure_interface(fd, net, err, errlen);
  close(fd);
  if (rc < 0) net_reset(net->interface);
  return rc;
}
