/* The box's interface configured from CONFIG (net.c), on a tap device in a network namespace
 * of its own; skipped where no namespace can be made (not root). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net.h"
#include "test.h"

#define TAP "eth7"

static struct guest_network network(uint16_t mtu) {
  char json[512], why[256];
  struct guest_config cfg;
  int n = snprintf(json, sizeof json,
                   "{\"hostname\":\"box1\",\"rootfs\":{\"device\":\"/dev/vdb\"},\"network\":{\"interface\":\"" TAP "\","
                   "\"address\":\"192.168.127.2\",\"prefix\":24,\"gateway\":\"192.168.127.1\",\"mtu\":%u,"
                   "\"nameservers\":[\"192.168.127.1\"]}}",
                   mtu);
  CHECK(message_parse_config((const uint8_t *)json, (size_t)n, &cfg, why, sizeof why) == 0);
  return cfg.network;
}

/* A tap device: an Ethernet interface with no one at the other end (no carrier), like a NIC
 * whose host side is not connected yet. It lasts as long as the returned fd. */
static int make_tap(void) {
  int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
  if (fd < 0) return -1;
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  strncpy(ifr.ifr_name, TAP, IFNAMSIZ - 1);
  if (ioctl(fd, TUNSETIFF, &ifr) == 0) return fd;
  close(fd);
  return -1;
}

/* The interface as the kernel has it: -1 for an ioctl that failed, "none" for no address. */
struct state {
  char address[INET_ADDRSTRLEN], netmask[INET_ADDRSTRLEN];
  int mtu, up;
  bool default_route; /* via 192.168.127.1 on TAP, in /proc/net/route */
};

static void read_address(int fd, unsigned long request, char *out) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, TAP, IFNAMSIZ - 1);
  struct sockaddr_in sin;
  if (ioctl(fd, request, &ifr) < 0) {
    snprintf(out, INET_ADDRSTRLEN, "%s", errno == EADDRNOTAVAIL ? "none" : "error");
    return;
  }
  memcpy(&sin, &ifr.ifr_addr, sizeof sin);
  inet_ntop(AF_INET, &sin.sin_addr, out, INET_ADDRSTRLEN);
}

static struct state read_state(void) {
  struct state st = {.mtu = -1, .up = -1};
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  read_address(fd, SIOCGIFADDR, st.address);
  read_address(fd, SIOCGIFNETMASK, st.netmask);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strncpy(ifr.ifr_name, TAP, IFNAMSIZ - 1);
  if (ioctl(fd, SIOCGIFMTU, &ifr) == 0) st.mtu = ifr.ifr_mtu;
  if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) st.up = (ifr.ifr_flags & IFF_UP) != 0;
  close(fd);
  /* Lines of "Iface Destination Gateway ...", the addresses as the hex of their network-order bytes. */
  FILE *routes = fopen("/proc/net/route", "r");
  CHECK(routes != NULL);
  char line[256], name[IFNAMSIZ];
  unsigned destination, gateway;
  while (routes && fgets(line, sizeof line, routes))
    if (sscanf(line, "%15s %x %x", name, &destination, &gateway) == 3 && strcmp(name, TAP) == 0 && destination == 0)
      st.default_route = gateway == inet_addr("192.168.127.1");
  if (routes) fclose(routes);
  return st;
}

static void test_a_failure_midway_leaves_the_interface_down_without_an_address(void) {
  /* A tap's largest MTU is 65535 less its Ethernet header: refused after the address was set. */
  struct guest_network net = network(65535);
  char err[256];
  CHECK(net_configure(&net, err, sizeof err) == -1);
  CHECK_STR(err, "ioctl(SIOCSIFMTU) on " TAP ": Invalid argument");
  struct state st = read_state();
  CHECK_STR(st.address, "none");
  CHECK(st.up == 0 && !st.default_route);
}

static void test_an_interface_is_configured_and_up_with_its_default_route(void) {
  struct guest_network net = network(1400);
  char err[256] = "";
  CHECK(net_configure(&net, err, sizeof err) == 0);
  CHECK_STR(err, "");
  struct state st = read_state();
  CHECK_STR(st.address, "192.168.127.2");
  CHECK_STR(st.netmask, "255.255.255.0");
  CHECK(st.mtu == 1400 && st.up == 1 && st.default_route);
  /* IPv4 only: no IPv6 autoconfiguration on the box's interface. */
  FILE *f = fopen("/proc/sys/net/ipv6/conf/" TAP "/disable_ipv6", "r");
  CHECK(f != NULL);
  if (f) {
    CHECK(fgetc(f) == '1');
    fclose(f);
  }
}

static void test_a_reset_takes_the_interface_down_without_its_address_or_route(void) {
  net_reset(TAP);
  struct state st = read_state();
  CHECK_STR(st.address, "none");
  CHECK(st.up == 0 && !st.default_route);
}

static void test_a_missing_interface_is_named_after_a_short_wait(void) {
  struct guest_network net = network(1500);
  snprintf(net.interface, sizeof net.interface, "eth9");
  char err[256];
  CHECK(net_configure(&net, err, sizeof err) == -1);
  CHECK_STR(err, "network interface eth9 does not exist (waited 2 s)");
}

int main(void) {
  if (unshare(CLONE_NEWNET) < 0) {
    printf("test_net: skipped: unshare(CLONE_NEWNET): %s\n", strerror(errno));
    return 0;
  }
  int tap = make_tap();
  if (tap < 0) {
    printf("test_net: skipped: a tap device: %s\n", strerror(errno));
    return 0;
  }
  /* The failure first, on a fresh interface; then the same interface configured: a retry works. */
  test_a_failure_midway_leaves_the_interface_down_without_an_address();
  test_an_interface_is_configured_and_up_with_its_default_route();
  test_a_reset_takes_the_interface_down_without_its_address_or_route();
  test_a_missing_interface_is_named_after_a_short_wait();
  close(tap);
  return test_finish("test_net");
}
