/* The kernel command line keys of the agent. */
#include "cmdline.h"
#include "test.h"

int main(void) {
  struct boot_config cfg;
  cmdline_parse("console=hvc0 root=/dev/vda ro quiet\n", &cfg);
  CHECK_STR(cfg.rootfs, "/dev/vdb");
  CHECK_STR(cfg.hostname, "boxlite");
  CHECK(!cfg.probe);

  cmdline_parse("quiet boxlite.rootfs=/dev/vdc boxlite.hostname=web-1 boxlite.probe=1 boxlite.other=x\n", &cfg);
  CHECK_STR(cfg.rootfs, "/dev/vdc");
  CHECK_STR(cfg.hostname, "web-1");
  CHECK(cfg.probe);

  /* Prefixes of a key are other keys; empty or oversized values keep the default. */
  char long_name[200];
  memset(long_name, 'h', sizeof long_name);
  long_name[sizeof long_name - 1] = '\0';
  char line[400];
  snprintf(line, sizeof line, "boxlite.rootfsx=/dev/vdz boxlite.probe=0 boxlite.hostname=%s boxlite.rootfs=", long_name);
  cmdline_parse(line, &cfg);
  CHECK_STR(cfg.rootfs, "/dev/vdb");
  CHECK_STR(cfg.hostname, "boxlite");
  CHECK(!cfg.probe);

  cmdline_parse("", &cfg);
  CHECK_STR(cfg.rootfs, "/dev/vdb");
  cmdline_parse("boxlite.probe boxlite.hostname", &cfg);
  CHECK(!cfg.probe);
  CHECK_STR(cfg.hostname, "boxlite");
  return test_finish("test_cmdline");
}
