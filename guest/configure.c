#include "configure.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "log.h"
#include "mounts.h"

int configure_apply(void *ctx, const struct guest_config *cfg, char *err, size_t errlen) {
  (void)ctx;
  /* The hostname first: repeating it is harmless when a failed mount is retried. */
  if (sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) {
    int e = errno;
    log_errno("sethostname", cfg->hostname);
    snprintf(err, errlen, "sethostname(%s): %s", cfg->hostname, strerror(e));
    return -1;
  }
  int rc = mounts_rootfs(cfg->rootfs_device);
  if (rc < 0) {
    snprintf(err, errlen, "mount %s on " ROOTFS_DIR ": %s", cfg->rootfs_device, strerror(-rc));
    return -1;
  }
  log_msg("configured: hostname %s, rootfs %s", cfg->hostname, cfg->rootfs_device);
  return 0;
}
