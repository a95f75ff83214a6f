/**
 * A jailed process's jail options for the watchdog (host/jail-enter.h): which namespaces,
 * which binds, the uid of a root boxlite's box and the groups it keeps, a root file server's
 * capabilities. What the watchdog does with them on a real host: test/e2e/jail.test.ts.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { type JailView, jailArgv } from "./view.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const view: JailView = {
  readOnly: ["/home/u/.local/share/boxlite/kernel.elf", "/usr/lib/x86_64-linux-gnu/libkrun.so.1", "libkrun.so.1"],
  readWrite: ["/home/u/.boxlite/boxes/b1/disks", "/tmp/bl-0/b1"],
  devices: [],
  network: false,
  dropUid: true,
};
const root = { identity: { uid: 1600000007, gid: 1600000000 }, env: { RUST_LOG: "debug" } };

/** The value after each occurrence of `flag`. */
function after(argv: string[], flag: string): string[] {
  return argv.flatMap((arg, index) => (arg === flag ? [argv[index + 1] as string] : []));
}

/** The jail's options: what comes before the program's `--`. */
function options(argv: string[]): string[] {
  return argv.slice(0, argv.indexOf("--"));
}

test("as root: the box's uid with no supplementary group, the VMM's own network, a clean environment, then the program", () => {
  const argv = jailArgv(root, view, ["/usr/bin/qemu-system-x86_64", "-m", "512"]);
  expect(argv.slice(0, 4)).toEqual(["--uid", "1600000007", "1600000000", "-"]);
  expect(argv).not.toContain("--userns");
  expect(argv).not.toContain("--share-net");
  expect(argv).not.toContain("--caps");
  expect(after(argv, "--setenv")).toEqual(["PATH=/usr/bin", "HOME=/tmp", "RUST_LOG=debug"]);
  expect(argv.slice(argv.indexOf("--"))).toEqual(["--", "/usr/bin/qemu-system-x86_64", "-m", "512"]);
});

test("binds: what the view names at its own path, /usr once and whole, a bare soname left to the loader, shallower first", () => {
  const argv = options(jailArgv(root, view, ["/usr/bin/qemu-system-x86_64"]));
  expect(after(argv, "--ro")).toEqual(["/usr", "/home/u/.local/share/boxlite/kernel.elf"]);
  expect(after(argv, "--rw")).toEqual(["/tmp/bl-0/b1", "/home/u/.boxlite/boxes/b1/disks"]);
  expect(after(argv, "--ro-try")).toEqual(["/etc/ld.so.cache"]);
  expect(after(argv, "--symlink")).toEqual(["usr/bin", "usr/sbin", "usr/lib", "usr/lib64"]);
  // Deeper paths come after shallower ones, so that a bind inside a bound directory is not hidden by it.
  expect(argv.indexOf("/tmp/bl-0/b1")).toBeLessThan(argv.indexOf("/home/u/.local/share/boxlite/kernel.elf"));
});

test("the network process keeps the host's network; the file server keeps boxlite's uid with the file capabilities only", () => {
  expect(options(jailArgv(root, { ...view, network: true }, ["/x/netd"]))).toContain("--share-net");
  const fsd = options(jailArgv(root, { ...view, dropUid: false }, ["/x/fsd"]));
  expect(fsd).not.toContain("--uid");
  // CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, SETGID, SETUID, MKNOD: not SYS_ADMIN (21) nor anything else.
  expect(after(fsd, "--caps")).toEqual(["0,1,2,3,4,6,7,27"]);
});

test("not root: a user namespace as boxlite's own user, and no uid or capability to keep", () => {
  const argv = options(jailArgv({ env: {} }, view, ["/usr/bin/qemu-system-x86_64"]));
  expect(argv[0]).toBe("--userns");
  expect(argv).not.toContain("--uid");
  expect(argv).not.toContain("--caps");
});

test("a device the view binds keeps the group that may use it (/dev/kvm 0660 root:kvm), and only that one", () => {
  const device = join(temp.make("jail-dev-"), "kvm");
  writeFileSync(device, "");
  chmodSync(device, 0o660);
  chownSync(device, 0, 4242);
  const argv = options(jailArgv(root, { ...view, devices: [device, "/nonexistent/dev"] }, ["/usr/bin/qemu-system-x86_64"]));
  expect(after(argv, "--dev-try")).toEqual([device, "/nonexistent/dev"]);
  expect(argv.slice(0, 4)).toEqual(["--uid", "1600000007", "1600000000", "4242"]);
});
