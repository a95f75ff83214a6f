/* The kernel command line keys of the agent. */
#include "cmdline.h"
#include "test.h"

int main(void) {
  struct boot_config cfg;
  cmdline_parse("console=hvc0 root=/dev/vda ro quiet\n", &cfg);
  CHECK_STR(cfg.rootfs, "/dev/vdb");
  CHECK_STR(cfg.hostname, "boxlite");
  CHECK(!cfg.probe);
  CHECK(cfg.vsock_port == 0);

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

  /* libkrun's channel: a vsock port, 1 to 2^32-2; anything else keeps virtio-serial. */
  cmdline_parse("boxlite.vsock=2695 quiet", &cfg);
  CHECK(cfg.vsock_port == 2695);
  cmdline_parse("boxlite.vsock=4294967294", &cfg);
  CHECK(cfg.vsock_port == 4294967294u);
  const char *bad[] = {"boxlite.vsock=0", "boxlite.vsock=4294967295", "boxlite.vsock=99999999999", "boxlite.vsock=-1",
                       "boxlite.vsock=12x", "boxlite.vsock=", "boxlite.vsock", "boxlite.vsockx=5"};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    cmdline_parse(bad[i], &cfg);
    CHECK(cfg.vsock_port == 0);
  }
  return test_finish("test_cmdline");
}
