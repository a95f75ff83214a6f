/**
 * What the jail needs of the host's kernel: mount_setattr(2), which the watchdog sets each
 * bind's flags with (host/jail-enter.c), came with Linux 5.12. The rest of findJailHost is
 * seen on this host by test/e2e/jail.test.ts ("boxlite info reports every layer").
 */
import { expect, test } from "bun:test";
import { kernelRefusal } from "./host.ts";

test("a kernel before 5.12 is refused, naming what the jail needs and the kernel's release; 5.12 and later are not", () => {
  expect(kernelRefusal("5.10.0-28-amd64")).toBe("the jail needs Linux 5.12 or later (mount_setattr), and this kernel is 5.10.0-28-amd64");
  expect(kernelRefusal("4.19.0")).toContain("this kernel is 4.19.0");
  for (const release of ["5.12.0", "6.1.0-21-amd64", "6.18.44-fc-v1272", "10.0"]) expect(kernelRefusal(release)).toBeUndefined();
});
