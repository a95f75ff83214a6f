#include "cmdline.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

/* Copies a value if it fits (and is not empty); a truncated device or hostname would be wrong. */
static void set_value(char *dst, size_t cap, const char *key, const char *value, size_t len) {
  if (len == 0 || len >= cap) {
    log_msg("ignoring %s of %zu bytes", key, len);
    return;
  }
  memcpy(dst, value, len);
  dst[len] = '\0';
}

void cmdline_parse(const char *text, struct boot_config *cfg) {
  snprintf(cfg->rootfs, sizeof cfg->rootfs, "/dev/vdb");
  snprintf(cfg->hostname, sizeof cfg->hostname, "boxlite");
  cfg->probe = false;
  const char *p = text;
  for (;;) {
    p += strspn(p, " \t\n");
    if (!*p) return;
    size_t len = strcspn(p, " \t\n");
    const char *eq = memchr(p, '=', len);
    size_t key_len = eq ? (size_t)(eq - p) : len;
    const char *value = eq ? eq + 1 : p + len;
    size_t value_len = eq ? len - key_len - 1 : 0;
    if (key_len == 14 && memcmp(p, "boxlite.rootfs", 14) == 0)
      set_value(cfg->rootfs, sizeof cfg->rootfs, "boxlite.rootfs", value, value_len);
    else if (key_len == 16 && memcmp(p, "boxlite.hostname", 16) == 0)
      set_value(cfg->hostname, sizeof cfg->hostname, "boxlite.hostname", value, value_len);
    else if (key_len == 13 && memcmp(p, "boxlite.probe", 13) == 0)
      cfg->probe = value_len == 1 && value[0] == '1';
    p += len;
  }
}
