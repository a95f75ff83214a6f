#include "args.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A whole decimal number in [min, max]. */
static int parse_uint(const char *s, size_t len, unsigned min, unsigned max, unsigned *out) {
  if (len == 0 || len > 5) return -1;
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) {
    if (!isdigit((unsigned char)s[i])) return -1;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  if (v < min || v > max) return -1;
  *out = v;
  return 0;
}

static int parse_ipv4(const char *s, size_t len, struct in_addr *out) {
  char buf[INET_ADDRSTRLEN];
  if (len >= sizeof buf) return -1;
  memcpy(buf, s, len);
  buf[len] = 0;
  return inet_pton(AF_INET, buf, out) == 1 ? 0 : -1;
}

/* IP:PORT */
static int parse_dns(const char *v, struct sockaddr_in *out) {
  const char *colon = strrchr(v, ':');
  unsigned port;
  if (!colon || parse_uint(colon + 1, strlen(colon + 1), 1, 65535, &port) < 0) return -1;
  *out = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  return parse_ipv4(v, (size_t)(colon - v), &out->sin_addr);
}

/* [HOST_IP:]HOST_PORT:BOX_PORT; the host IP is 127.0.0.1 unless given. */
static int parse_publish(const char *v, struct publish_spec *out) {
  const char *last = strrchr(v, ':');
  if (!last) return -1;
  const char *port_start = v;
  out->host_ip.s_addr = htonl(INADDR_LOOPBACK);
  for (const char *c = last - 1; c >= v; c--) {
    if (*c != ':') continue;
    if (parse_ipv4(v, (size_t)(c - v), &out->host_ip) < 0) return -1;
    port_start = c + 1;
    break;
  }
  unsigned host_port, box_port;
  if (parse_uint(port_start, (size_t)(last - port_start), 0, 65535, &host_port) < 0 ||
      parse_uint(last + 1, strlen(last + 1), 1, 65535, &box_port) < 0)
    return -1;
  out->host_port = (uint16_t)host_port;
  out->box_port = (uint16_t)box_port;
  return 0;
}

static void read_resolv_conf(const char *path, struct netd_args *a) {
  FILE *f = fopen(path, "r");
  if (!f) return;
  char line[512];
  while (a->dns_count < ARGS_MAX_DNS && fgets(line, sizeof line, f)) {
    char addr[64];
    struct sockaddr_in *ns = &a->dns[a->dns_count];
    /* IPv6 nameservers are skipped: netd reaches its upstreams over IPv4. */
    if (sscanf(line, " nameserver %63s", addr) != 1 || inet_pton(AF_INET, addr, &ns->sin_addr) != 1) continue;
    ns->sin_family = AF_INET;
    ns->sin_port = htons(53);
    a->dns_count++;
  }
  fclose(f);
}

enum option { OPT_SOCKET, OPT_CONTROL, OPT_PORTS_FILE, OPT_DNS, OPT_ALLOW, OPT_PUBLISH, OPT_COUNT };
static const char *const option_names[OPT_COUNT] = {"--socket", "--control", "--ports-file", "--dns", "--allow", "--publish"};

/* Takes one option's value; 0, or -1 with why in err. */
static int take(enum option o, const char *v, struct netd_args *a, struct net_policy *p, char *err, size_t errlen) {
  switch (o) {
  case OPT_SOCKET:
    a->socket_path = v;
    return 0;
  case OPT_CONTROL:
    a->control_path = v;
    return 0;
  case OPT_PORTS_FILE:
    a->ports_file = v;
    return 0;
  case OPT_DNS:
    if (a->dns_count == ARGS_MAX_DNS) {
      snprintf(err, errlen, "--dns %s: at most %d resolvers", v, ARGS_MAX_DNS);
      return -1;
    }
    if (parse_dns(v, &a->dns[a->dns_count]) < 0) {
      snprintf(err, errlen, "--dns %s: not IPV4:PORT", v);
      return -1;
    }
    a->dns_count++;
    return 0;
  case OPT_ALLOW:
    /* Its message names the rule: "allow rule \"10.0.0.0/33\": ...". */
    return policy_add_rule(p, v, err, errlen);
  case OPT_PUBLISH:
    if (a->publish_count == ARGS_MAX_PUBLISH) {
      snprintf(err, errlen, "--publish %s: at most %d ports", v, ARGS_MAX_PUBLISH);
      return -1;
    }
    if (parse_publish(v, &a->publish[a->publish_count]) < 0) {
      snprintf(err, errlen, "--publish %s: not [HOST_IP:]HOST_PORT:BOX_PORT", v);
      return -1;
    }
    a->publish_count++;
    return 0;
  case OPT_COUNT:
    break;
  }
  return -1;
}

int args_parse(int argc, char **argv, const char *resolv_conf, struct netd_args *a, struct net_policy *p, char *err, size_t errlen) {
  *a = (struct netd_args){0};
  for (int i = 1; i < argc; i++) {
    /* --name VALUE or --name=VALUE */
    const char *arg = argv[i];
    const char *eq = strncmp(arg, "--", 2) == 0 ? strchr(arg, '=') : NULL;
    size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
    enum option o = 0;
    while (o < OPT_COUNT && !(strlen(option_names[o]) == len && strncmp(arg, option_names[o], len) == 0)) o++;
    if (o == OPT_COUNT) {
      snprintf(err, errlen, "unknown argument %s", arg);
      return -1;
    }
    const char *v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (!v) {
      snprintf(err, errlen, "%s needs a value", option_names[o]);
      return -1;
    }
    if (take(o, v, a, p, err, errlen) < 0) return -1;
  }
  const char *missing = !a->socket_path ? "--socket" : !a->control_path ? "--control" : !a->ports_file ? "--ports-file" : NULL;
  if (missing) {
    snprintf(err, errlen, "%s is required", missing);
    return -1;
  }
  if (a->dns_count == 0) read_resolv_conf(resolv_conf, a);
  return 0;
}
