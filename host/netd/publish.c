#include "publish.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hooks.h"
#include "netd.h"

static int write_ports_file(const struct publish_spec *specs, size_t n, const char *path, char *err, size_t errlen) {
  size_t tmp_len = strlen(path) + 5;
  char *tmp = malloc(tmp_len);
  if (!tmp) {
    snprintf(err, errlen, "--ports-file %s: out of memory", path);
    return -1;
  }
  snprintf(tmp, tmp_len, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  int ok = f != NULL;
  if (ok) fputc('[', f);
  for (size_t i = 0; ok && i < n; i++) {
    char ip[INET_ADDRSTRLEN];
    inet_ntop(AF_INET, &specs[i].host_ip, ip, sizeof ip);
    fprintf(f, "%s{\"host_ip\":\"%s\",\"host_port\":%u,\"box_port\":%u,\"protocol\":\"tcp\"}", i ? "," : "", ip,
            specs[i].host_port, specs[i].box_port);
  }
  if (ok) {
    fputs("]\n", f);
    ok = fflush(f) == 0;
  }
  if (f && fclose(f) != 0) ok = 0;
  /* Readers see the whole file or none: rename replaces it in one step. */
  if (ok) ok = rename(tmp, path) == 0;
  if (!ok) {
    snprintf(err, errlen, "--ports-file %s: %s", path, strerror(errno));
    unlink(tmp);
  }
  free(tmp);
  return ok ? 0 : -1;
}

int publish_ports(Slirp *slirp, struct publish_spec *specs, size_t n, const char *ports_file, char *err, size_t errlen) {
  struct in_addr guest = {.s_addr = htonl(NET_GUEST)};
  for (size_t i = 0; i < n; i++) {
    hooks_listen_reset();
    if (slirp_add_hostfwd(slirp, 0, specs[i].host_ip, specs[i].host_port, guest, specs[i].box_port) < 0) {
      char ip[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, &specs[i].host_ip, ip, sizeof ip);
      snprintf(err, errlen, "publish %s:%u -> %u: %s", ip, specs[i].host_port, specs[i].box_port, strerror(errno));
      return -1;
    }
    specs[i].host_port = hooks_last_listen().port;
  }
  return write_ports_file(specs, n, ports_file, err, errlen);
}
