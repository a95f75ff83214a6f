/**
 * A jailed process's bubblewrap command line: which namespaces, which binds (and the
 * directories leading to them), the uid drop of a root boxlite and the groups it keeps.
 * What the line does on a real host: test/e2e/jail.test.ts.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, chownSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { type JailView, jailArgv } from "./bwrap.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const view: JailView = {
  readOnly: ["/home/u/.local/share/boxlite/kernel.elf", "/usr/lib/x86_64-linux-gnu/libkrun.so.1", "libkrun.so.1"],
  readWrite: ["/home/u/.boxlite/boxes/b1/disks", "/tmp/bl-0/b1"],
  devices: [],
  network: false,
  dropUid: true,
};
const root = { bwrap: "/usr/bin/bwrap", setpriv: "/usr/bin/setpriv", identity: { uid: 1600000007, gid: 1600000000 }, env: { RUST_LOG: "debug" } };

/** The value after each occurrence of `flag`. */
function after(argv: string[], flag: string): string[] {
  return argv.flatMap((arg, index) => (arg === flag ? [argv[index + 1] as string] : []));
}

test("as root: no user namespace, the VMM's own network namespace, and setpriv dropping it to the box's uid with nothing kept", () => {
  const argv = jailArgv(root, view, ["/usr/bin/qemu-system-x86_64", "-m", "512"]);
  expect(argv[0]).toBe("/usr/bin/bwrap");
  expect(argv).not.toContain("--unshare-user");
  for (const flag of ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--unshare-net", "--die-with-parent", "--as-pid-1", "--clearenv"])
    expect(argv).toContain(flag);
  const drop = argv.slice(argv.indexOf("/usr/bin/setpriv"));
  expect(drop).toEqual([
    "/usr/bin/setpriv",
    "--reuid=1600000007",
    "--regid=1600000000",
    "--clear-groups",
    "--inh-caps=-all",
    "--bounding-set=-all",
    "--no-new-privs",
    "--pdeathsig=SIGKILL",
    "--",
    "/usr/bin/qemu-system-x86_64",
    "-m",
    "512",
  ]);
  expect(after(argv, "--setenv")).toEqual(["PATH", "HOME", "RUST_LOG"]);
});

test("binds: what the view names at its own path, /usr once and whole, a bare soname left to the loader, the way to each made 0755", () => {
  const argv = jailArgv(root, view, ["/usr/bin/qemu-system-x86_64"]);
  expect(after(argv, "--ro-bind")).toEqual(["/usr", "/home/u/.local/share/boxlite/kernel.elf"]);
  expect(after(argv, "--bind")).toEqual(["/tmp/bl-0/b1", "/home/u/.boxlite/boxes/b1/disks"]);
  expect(after(argv, "--dir")).toEqual([
    "/home",
    "/home/u",
    "/tmp/bl-0",
    "/home/u/.boxlite",
    "/home/u/.local",
    "/home/u/.boxlite/boxes",
    "/home/u/.local/share",
    "/home/u/.boxlite/boxes/b1",
    "/home/u/.local/share/boxlite",
  ]);
  expect(new Set(after(argv, "--perms"))).toEqual(new Set(["0755"]));
  // The directories come before what is bound in them.
  expect(argv.indexOf("/home/u/.boxlite/boxes/b1")).toBeLessThan(argv.indexOf("/home/u/.boxlite/boxes/b1/disks"));
});

test("the network process keeps the host's network; the file server keeps boxlite's uid with the file capabilities only", () => {
  expect(jailArgv(root, { ...view, network: true }, ["/x/netd"])).not.toContain("--unshare-net");
  const fsd = jailArgv(root, { ...view, dropUid: false }, ["/x/fsd"]);
  expect(fsd).not.toContain("/usr/bin/setpriv");
  expect(after(fsd, "--cap-drop")).toEqual(["ALL"]);
  expect(after(fsd, "--cap-add")).toContain("CAP_DAC_OVERRIDE");
  expect(after(fsd, "--cap-add")).not.toContain("CAP_SYS_ADMIN");
});

test("not root: a user namespace that cannot make another, and no setpriv", () => {
  const argv = jailArgv({ bwrap: "/usr/bin/bwrap", env: {} }, view, ["/usr/bin/qemu-system-x86_64"]);
  expect(argv.slice(1, 3)).toEqual(["--unshare-user", "--disable-userns"]);
  expect(argv).not.toContain("/usr/bin/setpriv");
  expect(argv).not.toContain("--cap-drop");
});

test("a device the view binds keeps the group that may use it (/dev/kvm 0660 root:kvm), and only that one", () => {
  const device = join(temp.make("jail-dev-"), "kvm");
  writeFileSync(device, "");
  chmodSync(device, 0o660);
  chownSync(device, 0, 4242);
  const argv = jailArgv(root, { ...view, devices: [device, "/nonexistent/dev"] }, ["/usr/bin/qemu-system-x86_64"]);
  expect(after(argv, "--dev-bind-try")).toEqual([device, "/nonexistent/dev"]);
  expect(argv).toContain("--groups=4242");
  expect(argv).not.toContain("--clear-groups");
});
