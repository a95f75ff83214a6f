/* The kernel command line keys of the agent. */
#include "cmdline.h"
#include "test.h"

int main(void) {
  struct boot_config cfg;
  cmdline_parse("console=hvc0 root=/dev/vda ro quiet\n", &cfg);
  CHECK(!cfg.probe);
  CHECK(cfg.vsock_port == 0);

  /* The box's settings come in CONFIG: keys an older host put here are ignored with the rest. */
  cmdline_parse("quiet boxlite.rootfs=/dev/vdc boxlite.hostname=web-1 boxlite.probe=1 boxlite.other=x\n", &cfg);
  CHECK(cfg.probe);
  CHECK(cfg.vsock_port == 0);

  /* Prefixes of a key are other keys; a probe is exactly "=1". */
  cmdline_parse("boxlite.probex=1 boxlite.prob=1", &cfg);
  CHECK(!cfg.probe);
  cmdline_parse("boxlite.probe=1 boxlite.probe=0", &cfg);
  CHECK(!cfg.probe);
  cmdline_parse("", &cfg);
  CHECK(!cfg.probe);
  cmdline_parse("boxlite.probe boxlite.hostname", &cfg);
  CHECK(!cfg.probe);
  cmdline_parse("boxlite.probe=11", &cfg);
  CHECK(!cfg.probe);

  /* A template boots: exactly "=1" too. */
  CHECK(!cfg.template);
  cmdline_parse("quiet boxlite.template=1", &cfg);
  CHECK(cfg.template && !cfg.probe);
  cmdline_parse("boxlite.template=0 boxlite.templatex=1", &cfg);
  CHECK(!cfg.template);

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
