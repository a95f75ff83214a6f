#include "configure.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "boxns.h"
#include "etc_files.h"
#include "grow.h"
#include "log.h"
#include "mounts.h"
#include "net.h"
#include "volumes.h"

/* The interface before the files: when it fails (most often because the VM has no such card),
 * the box's disk is left as it was. */
static int configure_network(const struct guest_config *cfg, char *err, size_t errlen) {
  if (net_configure(&cfg->network, err, errlen) < 0) return -1;
  if (etc_files_write(ROOTFS_DIR, cfg, err, errlen) == 0) return 0;
  net_reset(cfg->network.interface);
  return -1;
}

int configure_apply(void *ctx, const struct guest_config *cfg, char *err, size_t errlen) {
  (void)ctx;
  /* The hostname first: repeating it is harmless when a failed CONFIG is retried. */
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
  /* A disk the filesystem does not fill is grown before anything runs in it. A grow that
   * fails fails the CONFIG (config_failed): the box must not start smaller than it was
   * made, silently; the next start tries again. */
  if (grow_rootfs(cfg->rootfs_device, ROOTFS_DIR, err, errlen) < 0 ||
      (cfg->mount_count && volumes_mount(cfg, err, errlen) < 0) ||
      (cfg->network.interface[0] && configure_network(cfg, err, errlen) < 0) || boxns_start(err, errlen) < 0) {
    /* Unmounted again so that a failed CONFIG leaves nothing mounted, as one whose mount failed:
     * the next CONFIG is applied afresh. Nothing runs in the rootfs yet, so nothing holds it. */
    mounts_unmount_rootfs();
    return -1;
  }
  return 0; /* told on the console once the agent is idle (loop.c) */
}
