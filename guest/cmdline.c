#include "cmdline.h"

#include <string.h>

#include "log.h"

/* A vsock port: 1 to 2^32-2 in decimal (VMADDR_PORT_ANY is not one); 0 when malformed. */
static unsigned parse_port(const char *value, size_t len) {
  unsigned long long port = 0;
  for (size_t i = 0; i < len; i++) {
    if (value[i] < '0' || value[i] > '9' || i >= 10) {
      log_msg("ignoring boxlite.vsock=%.*s: not a port number", (int)len, value);
      return 0;
    }
    port = port * 10 + (unsigned)(value[i] - '0');
  }
  if (port == 0 || port >= 0xffffffffull) {
    log_msg("ignoring boxlite.vsock=%.*s: out of range", (int)len, value);
    return 0;
  }
  return (unsigned)port;
}

void cmdline_parse(const char *text, struct boot_config *cfg) {
  cfg->probe = false;
  cfg->template = false;
  cfg->vsock_port = 0;
  const char *p = text;
  for (;;) {
    p += strspn(p, " \t\n");
    if (!*p) return;
    size_t len = strcspn(p, " \t\n");
    const char *eq = memchr(p, '=', len);
    size_t key_len = eq ? (size_t)(eq - p) : len;
    const char *value = eq ? eq + 1 : p + len;
    size_t value_len = eq ? len - key_len - 1 : 0;
    if (key_len == 13 && memcmp(p, "boxlite.probe", 13) == 0)
      cfg->probe = value_len == 1 && value[0] == '1';
    else if (key_len == 16 && memcmp(p, "boxlite.template", 16) == 0)
      cfg->template = value_len == 1 && value[0] == '1';
    else if (key_len == 13 && memcmp(p, "boxlite.vsock", 13) == 0)
      cfg->vsock_port = parse_port(value, value_len);
    p += len;
  }
}
