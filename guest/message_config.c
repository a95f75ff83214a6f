/* CONFIG (docs/guest-protocol.md, "Configuration"): the box's settings, checked and copied out of the JSON. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "message.h"
#include "message_impl.h"

#define NETWORK "CONFIG network"

/* Writes the reason to why. Returns -1. */
static int fail(char *why, size_t whylen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *why, size_t whylen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, whylen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Reads a field of the given type that must be there (null counts as missing). */
static int get_required(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                        enum json_type type, const struct json_value **out, char *why, size_t whylen) {
  if (message_get_optional(doc, obj, what, key, type, out, why, whylen) < 0) return -1;
  return *out ? 0 : fail(why, whylen, "%s: missing field \"%s\"", what, key);
}

/* Copies a required string of 1..max bytes (no NUL) into dst, which holds max + 1. */
static int get_text(const struct json_doc *doc, const struct json_value *obj, const char *what, const char *key,
                    char *dst, size_t max, char *why, size_t whylen) {
  const struct json_value *v;
  if (get_required(doc, obj, what, key, JSON_STRING, &v, why, whylen) < 0) return -1;
  if (v->len == 0 || v->len > max) return fail(why, whylen, "%s: \"%s\" must be 1 to %zu bytes", what, key, max);
  memcpy(dst, v->str, v->len + 1);
  return 0;
}

/* A name as resolv.conf and /etc/hosts take it (RFC 1123): dot-separated labels of 1..63
 * letters, digits and hyphens, no hyphen at either end of a label, 253 bytes in all. */
static bool is_dns_name(const char *s, size_t len) {
  if (len == 0 || len > 253) return false;
  size_t label = 0;
  for (size_t i = 0; i <= len; i++) {
    char c = i < len ? s[i] : '.';
    if (c == '.') {
      if (label == 0 || label > 63 || s[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (!alnum && (c != '-' || label == 0)) return false;
    label++;
  }
  return true;
}

/* The kernel's rule for a device name (dev_valid_name): not "." or "..", no '/', ':' or space. */
static bool is_interface_name(const char *s) {
  if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
  for (; *s; s++)
    if (*s == '/' || *s == ':' || isspace((unsigned char)*s)) return false;
  return true;
}

/* Whether an interface on a /prefix subnet can have address a (host order): unicast, so not in
 * 0/8 ("this network"), 127/8 (loopback) or 224/3 (multicast, reserved), and neither the
 * subnet's own address nor its broadcast, which /31 and /32 do not have (RFC 3021). */
static bool is_host_address(uint32_t a, unsigned prefix) {
  uint32_t first = a >> 24;
  if (first == 0 || first == 127 || first >= 224) return false;
  if (prefix > 30) return true;
  uint32_t host_bits = UINT32_MAX >> prefix, host = a & host_bits;
  return host != 0 && host != host_bits;
}

/* Reads a dotted quad in inet_pton's strict form: four decimal numbers, no leading zeros. */
static int read_address(const struct json_value *v, const char *label, struct in_addr *out, char *why, size_t whylen) {
  if (json_is_cstring(v) && inet_pton(AF_INET, v->str, out) == 1) return 0;
  return fail(why, whylen, NETWORK ": %s must be an IPv4 address (a dotted quad)", label);
}

static int get_address(const struct json_doc *doc, const struct json_value *obj, const char *key, struct in_addr *out,
                       char *why, size_t whylen) {
  const struct json_value *v;
  if (get_required(doc, obj, NETWORK, key, JSON_STRING, &v, why, whylen) < 0) return -1;
  char label[32];
  snprintf(label, sizeof label, "\"%s\"", key);
  return read_address(v, label, out, why, whylen);
}

static int get_nameservers(const struct json_doc *doc, const struct json_value *obj, struct guest_network *net,
                           char *why, size_t whylen) {
  const struct json_value *list;
  if (get_required(doc, obj, NETWORK, "nameservers", JSON_ARRAY, &list, why, whylen) < 0) return -1;
  if (list->len == 0 || list->len > CONFIG_NAMESERVERS_MAX)
    return fail(why, whylen, NETWORK ": \"nameservers\" must hold 1 to %d addresses", CONFIG_NAMESERVERS_MAX);
  for (const struct json_value *e = json_first(doc, list); e; e = json_next(doc, e)) {
    char label[32];
    snprintf(label, sizeof label, "\"nameservers\"[%zu]", net->nameserver_count);
    if (read_address(e, label, &net->nameservers[net->nameserver_count++], why, whylen) < 0) return -1;
  }
  return 0;
}

/* Joins the search names into net->search, one space between them, as resolv.conf's line takes them. */
static int get_search(const struct json_doc *doc, const struct json_value *obj, struct guest_network *net, char *why,
                      size_t whylen) {
  const struct json_value *list;
  if (message_get_optional(doc, obj, NETWORK, "search", JSON_ARRAY, &list, why, whylen) < 0) return -1;
  if (!list) return 0;
  if (list->len > CONFIG_SEARCH_NAMES_MAX)
    return fail(why, whylen, NETWORK ": \"search\" must hold at most %d names", CONFIG_SEARCH_NAMES_MAX);
  size_t used = 0, i = 0;
  for (const struct json_value *e = json_first(doc, list); e; e = json_next(doc, e), i++) {
    if (!json_is_cstring(e) || !is_dns_name(e->str, e->len))
      return fail(why, whylen, NETWORK ": \"search\"[%zu] must be a DNS name", i);
    if (used + (used > 0) + e->len > CONFIG_SEARCH_MAX)
      return fail(why, whylen, NETWORK ": \"search\" must be at most %d bytes with a space between names",
                  CONFIG_SEARCH_MAX);
    used += (size_t)snprintf(net->search + used, sizeof net->search - used, "%s%s", used ? " " : "", e->str);
  }
  return 0;
}

/* What the kernel would refuse midway through configuring, refused before anything is applied. */
static int check_network(const struct guest_config *cfg, char *why, size_t whylen) {
  const struct guest_network *net = &cfg->network;
  char address[INET_ADDRSTRLEN], gateway[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &net->address, address, sizeof address);
  inet_ntop(AF_INET, &net->gateway, gateway, sizeof gateway);
  uint32_t a = ntohl(net->address.s_addr), g = ntohl(net->gateway.s_addr);
  if (!is_host_address(a, net->prefix))
    return fail(why, whylen, NETWORK ": \"address\" %s/%u is not a unicast host address", address, net->prefix);
  /* The default route needs a gateway on the interface's own subnet (else ENETUNREACH). */
  uint32_t mask = UINT32_MAX << (32 - net->prefix);
  if (!is_host_address(g, net->prefix) || ((a ^ g) & mask) != 0 || a == g)
    return fail(why, whylen, NETWORK ": \"gateway\" %s must be another unicast host address in %s/%u", gateway, address,
                net->prefix);
  if (!is_dns_name(cfg->hostname, strlen(cfg->hostname)))
    return fail(why, whylen, NETWORK ": the hostname \"%s\" goes in /etc/hosts, so it must be a DNS name",
                cfg->hostname);
  return 0;
}

static int parse_network(const struct json_doc *doc, const struct json_value *obj, struct guest_config *cfg, char *why,
                         size_t whylen) {
  struct guest_network *net = &cfg->network;
  int64_t prefix, mtu;
  if (get_text(doc, obj, NETWORK, "interface", net->interface, CONFIG_INTERFACE_MAX, why, whylen) < 0) return -1;
  if (!is_interface_name(net->interface))
    return fail(why, whylen, NETWORK ": \"interface\" must be a network device name (no '/', ':' or spaces)");
  if (get_address(doc, obj, "address", &net->address, why, whylen) < 0) return -1;
  if (message_get_int(doc, obj, NETWORK, "prefix", 1, 32, &prefix, why, whylen) < 0) return -1;
  if (get_address(doc, obj, "gateway", &net->gateway, why, whylen) < 0) return -1;
  if (message_get_int(doc, obj, NETWORK, "mtu", 68, 65535, &mtu, why, whylen) < 0) return -1;
  if (get_nameservers(doc, obj, net, why, whylen) < 0) return -1;
  if (get_search(doc, obj, net, why, whylen) < 0) return -1;
  net->prefix = (uint8_t)prefix;
  net->mtu = (uint16_t)mtu;
  return check_network(cfg, why, whylen);
}

static int parse_config_fields(const struct json_doc *doc, const struct json_value *root, struct guest_config *cfg,
                               char *why, size_t whylen) {
  const struct json_value *rootfs, *mounts, *network;
  if (get_text(doc, root, "CONFIG", "hostname", cfg->hostname, CONFIG_HOSTNAME_MAX, why, whylen) < 0) return -1;
  if (get_required(doc, root, "CONFIG", "rootfs", JSON_OBJECT, &rootfs, why, whylen) < 0) return -1;
  if (get_text(doc, rootfs, "CONFIG rootfs", "device", cfg->rootfs_device, CONFIG_DEVICE_MAX, why, whylen) < 0)
    return -1;
  if (cfg->rootfs_device[0] != '/') return fail(why, whylen, "CONFIG rootfs: \"device\" must be an absolute path");
  if (message_get_optional(doc, root, "CONFIG", "mounts", JSON_ARRAY, &mounts, why, whylen) < 0) return -1;
  if (message_get_optional(doc, root, "CONFIG", "network", JSON_OBJECT, &network, why, whylen) < 0) return -1;
  /* Well-formed. What follows is refused, not malformed: the host asked for something this
   * agent will not apply, and a box must not start silently without it. */
  if (mounts && mounts->len) {
    fail(why, whylen, "\"mounts\" is not supported by boxlite-guest/" BOXLITE_GUEST_VERSION);
    return CONFIG_REFUSED;
  }
  if (network && network->len && parse_network(doc, network, cfg, why, whylen) < 0) return CONFIG_REFUSED;
  return 0;
}

int message_parse_config(const uint8_t *p, size_t n, struct guest_config *cfg, char *why, size_t whylen) {
  memset(cfg, 0, sizeof *cfg);
  struct json_doc doc;
  const struct json_value *root = message_object(&doc, p, n, "CONFIG", why, whylen);
  if (!root) return -1;
  int rc = parse_config_fields(&doc, root, cfg, why, whylen);
  json_free(&doc);
  return rc;
}

bool message_same_config(const struct guest_config *a, const struct guest_config *b) {
  const struct guest_network *x = &a->network, *y = &b->network;
  /* A CONFIG without a network leaves every member of it zero. */
  bool same = strcmp(a->hostname, b->hostname) == 0 && strcmp(a->rootfs_device, b->rootfs_device) == 0 &&
              strcmp(x->interface, y->interface) == 0 && x->address.s_addr == y->address.s_addr &&
              x->prefix == y->prefix && x->gateway.s_addr == y->gateway.s_addr && x->mtu == y->mtu &&
              x->nameserver_count == y->nameserver_count && strcmp(x->search, y->search) == 0;
  for (size_t i = 0; same && i < x->nameserver_count; i++) same = x->nameservers[i].s_addr == y->nameservers[i].s_addr;
  return same;
}

void message_describe_config(const struct guest_config *cfg, char *buf, size_t cap) {
  const struct guest_network *net = &cfg->network;
  int n = snprintf(buf, cap, "hostname \"%s\", rootfs %s and ", cfg->hostname, cfg->rootfs_device);
  if (n < 0 || (size_t)n >= cap) return;
  if (!net->interface[0]) {
    snprintf(buf + n, cap - (size_t)n, "no network");
    return;
  }
  char address[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &net->address, address, sizeof address);
  snprintf(buf + n, cap - (size_t)n, "network %s/%u on %s", address, net->prefix, net->interface);
}
