/* netd's command line (docs/network.md "Command line"), checked whole before anything starts. */
#ifndef BOXLITE_NETD_ARGS_H
#define BOXLITE_NETD_ARGS_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

#include "policy.h"

#define ARGS_MAX_DNS 8
#define ARGS_MAX_PUBLISH 64

struct publish_spec {
  struct in_addr host_ip;
  uint16_t host_port; /* 0: the OS picks */
  uint16_t box_port;
};

struct netd_args {
  const char *socket_path, *control_path, *ports_file;
  struct sockaddr_in dns[ARGS_MAX_DNS];
  size_t dns_count;
  struct publish_spec publish[ARGS_MAX_PUBLISH];
  size_t publish_count;
};

/* Reads argv into a and each --allow rule into p. Without --dns, the IPv4 nameservers of
 * resolv_conf (port 53) are the upstreams. 0, or -1 with one line naming the bad argument
 * in err. */
int args_parse(int argc, char **argv, const char *resolv_conf, struct netd_args *a, struct net_policy *p, char *err, size_t errlen);

#endif
