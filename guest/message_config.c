/* CONFIG (docs/guest-protocol.md, "Configuration"): the box's settings, checked and copied out of the JSON. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "agent.h"
#include "caps.h"
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

#define MOUNTS "CONFIG mounts"

/* virtio-fs tags as the host makes them: [A-Za-z0-9_.-]. */
static bool is_tag(const char *s) {
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' && *s != '-') return false;
  return true;
}

/* An absolute path of plain parts: no empty part ("//", a trailing '/'), no "." or "..", not "/". */
static bool is_plain_path(const char *s) {
  if (s[0] != '/' || s[1] == '\0') return false;
  for (const char *part = s + 1;;) {
    const char *end = strchr(part, '/');
    size_t n = end ? (size_t)(end - part) : strlen(part);
    if (n == 0 || (n == 1 && part[0] == '.') || (n == 2 && part[0] == '.' && part[1] == '.')) return false;
    if (!end) return true;
    part = end + 1;
  }
}

/* One part of a path: no '/', not "." or "..". */
static bool is_file_name(const char *s) { return !strchr(s, '/') && strcmp(s, ".") && strcmp(s, ".."); }

/* Whether one of a and b is the other or lies beneath it. */
static bool overlaps(const char *a, const char *b) {
  size_t na = strlen(a), nb = strlen(b), n = na < nb ? na : nb;
  return strncmp(a, b, n) == 0 && (na == nb || (na < nb ? b[n] : a[n]) == '/');
}

/* An optional string of at most max bytes into dst (max + 1 bytes); absent leaves "". */
static int get_optional_text(const struct json_doc *doc, const struct json_value *obj, const char *what,
                             const char *key, char *dst, size_t max, char *why, size_t whylen) {
  const struct json_value *v;
  dst[0] = '\0';
  if (message_get_optional(doc, obj, what, key, JSON_STRING, &v, why, whylen) < 0) return -1;
  if (!v) return 0;
  if (v->len > max) return fail(why, whylen, "%s: \"%s\" must be at most %zu bytes", what, key, max);
  memcpy(dst, v->str, v->len + 1);
  return 0;
}

static int parse_mount(const struct json_doc *doc, const struct json_value *obj, struct guest_mount *m, char *why,
                       size_t whylen) {
  const struct json_value *read_only;
  int64_t uid, gid;
  if (obj->type != JSON_OBJECT) return fail(why, whylen, MOUNTS ": each mount must be an object");
  if (get_text(doc, obj, MOUNTS, "tag", m->tag, CONFIG_TAG_MAX, why, whylen) < 0) return -1;
  if (get_text(doc, obj, MOUNTS, "path", m->path, CONFIG_MOUNT_PATH_MAX, why, whylen) < 0) return -1;
  if (get_optional_text(doc, obj, MOUNTS, "subdir", m->subdir, CONFIG_FILE_NAME_MAX, why, whylen) < 0) return -1;
  if (get_optional_text(doc, obj, MOUNTS, "file", m->file, CONFIG_FILE_NAME_MAX, why, whylen) < 0) return -1;
  if (get_optional_text(doc, obj, MOUNTS, "user", m->user, CONFIG_USER_MAX, why, whylen) < 0) return -1;
  if (message_get_optional(doc, obj, MOUNTS, "read_only", JSON_BOOL, &read_only, why, whylen) < 0) return -1;
  /* 4294967295 is (uid_t)-1, "no change" to chown: never an owner. */
  if (message_get_int(doc, obj, MOUNTS, "host_uid", 0, 4294967294, &uid, why, whylen) < 0) return -1;
  if (message_get_int(doc, obj, MOUNTS, "host_gid", 0, 4294967294, &gid, why, whylen) < 0) return -1;
  m->read_only = read_only && read_only->boolean;
  m->host_uid = (uint32_t)uid;
  m->host_gid = (uint32_t)gid;
  if (!is_tag(m->tag)) return fail(why, whylen, MOUNTS ": the tag \"%s\" must be of [A-Za-z0-9_.-]", m->tag);
  if (!is_plain_path(m->path))
    return fail(why, whylen, MOUNTS ": \"%s\" must be an absolute path other than / without empty, . or .. parts",
                m->path);
  if (m->file[0] && !is_file_name(m->file))
    return fail(why, whylen, MOUNTS ": \"file\" must be a file name, not \"%s\"", m->file);
  if (m->subdir[0] && !is_file_name(m->subdir))
    return fail(why, whylen, MOUNTS ": \"subdir\" must be a file name, not \"%s\"", m->subdir);
  return 0;
}

static int parse_mounts(const struct json_doc *doc, const struct json_value *mounts, struct guest_config *cfg,
                        char *why, size_t whylen) {
  if (mounts->len > CONFIG_MOUNTS_MAX)
    return fail(why, whylen, MOUNTS ": at most %d volumes, not %zu", CONFIG_MOUNTS_MAX, mounts->len);
  for (const struct json_value *v = json_first(doc, mounts); v; v = json_next(doc, v)) {
    struct guest_mount *m = &cfg->mounts[cfg->mount_count];
    if (parse_mount(doc, v, m, why, whylen) < 0) return -1;
    for (size_t i = 0; i < cfg->mount_count; i++) {
      if (!strcmp(cfg->mounts[i].tag, m->tag) && !strcmp(cfg->mounts[i].subdir, m->subdir))
        return fail(why, whylen, MOUNTS ": two mounts have the tag \"%s\"%s%s", m->tag, m->subdir[0] ? " and subdir " : "",
                    m->subdir);
      if (overlaps(cfg->mounts[i].path, m->path))
        return fail(why, whylen, MOUNTS ": %s and %s overlap", cfg->mounts[i].path, m->path);
    }
    cfg->mount_count++;
  }
  return 0;
}

static int parse_config_fields(const struct json_doc *doc, const struct json_value *root, struct guest_config *cfg,
                               char *why, size_t whylen) {
  const struct json_value *rootfs, *mounts, *network, *capabilities;
  if (get_text(doc, root, "CONFIG", "hostname", cfg->hostname, CONFIG_HOSTNAME_MAX, why, whylen) < 0) return -1;
  if (get_required(doc, root, "CONFIG", "rootfs", JSON_OBJECT, &rootfs, why, whylen) < 0) return -1;
  if (get_text(doc, rootfs, "CONFIG rootfs", "device", cfg->rootfs_device, CONFIG_DEVICE_MAX, why, whylen) < 0)
    return -1;
  if (cfg->rootfs_device[0] != '/') return fail(why, whylen, "CONFIG rootfs: \"device\" must be an absolute path");
  if (message_get_optional(doc, root, "CONFIG", "mounts", JSON_ARRAY, &mounts, why, whylen) < 0) return -1;
  if (message_get_optional(doc, root, "CONFIG", "network", JSON_OBJECT, &network, why, whylen) < 0) return -1;
  if (message_get_optional(doc, root, "CONFIG", "capabilities", JSON_OBJECT, &capabilities, why, whylen) < 0)
    return -1;
  cfg->capabilities = CAPS_DEFAULT;
  int caps = capabilities ? caps_parse(doc, capabilities, &cfg->capabilities, why, whylen) : 0;
  if (caps == -1) return -1;
  /* Well-formed. What follows is refused, not malformed: the host asked for something this
   * agent will not apply, and a box must not start silently without it. */
  if (mounts && parse_mounts(doc, mounts, cfg, why, whylen) < 0) return CONFIG_REFUSED;
  if (network && network->len && parse_network(doc, network, cfg, why, whylen) < 0) return CONFIG_REFUSED;
  return caps < 0 ? CONFIG_REFUSED : 0;
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
  bool same = a->capabilities == b->capabilities && strcmp(a->hostname, b->hostname) == 0 && strcmp(a->rootfs_device, b->rootfs_device) == 0 &&
              strcmp(x->interface, y->interface) == 0 && x->address.s_addr == y->address.s_addr &&
              x->prefix == y->prefix && x->gateway.s_addr == y->gateway.s_addr && x->mtu == y->mtu &&
              x->nameserver_count == y->nameserver_count && strcmp(x->search, y->search) == 0;
  for (size_t i = 0; same && i < x->nameserver_count; i++) same = x->nameservers[i].s_addr == y->nameservers[i].s_addr;
  same = same && a->mount_count == b->mount_count;
  for (size_t i = 0; same && i < a->mount_count; i++) {
    const struct guest_mount *m = &a->mounts[i], *n = &b->mounts[i];
    same = !strcmp(m->tag, n->tag) && !strcmp(m->subdir, n->subdir) && !strcmp(m->path, n->path) &&
           !strcmp(m->file, n->file) &&
           m->read_only == n->read_only && m->host_uid == n->host_uid && m->host_gid == n->host_gid &&
           !strcmp(m->user, n->user);
  }
  return same;
}

void message_describe_config(const struct guest_config *cfg, char *buf, size_t cap) {
  const struct guest_network *net = &cfg->network;
  int n = snprintf(buf, cap, "hostname \"%s\", rootfs %s and ", cfg->hostname, cfg->rootfs_device);
  if (n >= 0 && (size_t)n < cap && cfg->mount_count)
    n = snprintf(buf, cap, "hostname \"%s\", rootfs %s, %zu volume%s and ", cfg->hostname, cfg->rootfs_device,
                 cfg->mount_count, cfg->mount_count == 1 ? "" : "s");
  if (n < 0 || (size_t)n >= cap) return;
  if (!net->interface[0]) {
    snprintf(buf + n, cap - (size_t)n, "no network");
    return;
  }
  char address[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &net->address, address, sizeof address);
  snprintf(buf + n, cap - (size_t)n, "network %s/%u on %s", address, net->prefix, net->interface);
}
