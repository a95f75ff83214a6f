/** `boxlite run` with bad input or a broken host: one clear line, exit 125, nothing left running. */
import { expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { qemuProcesses, runCli } from "../helpers/cli.ts";

async function expectFailure(args: string[], message: RegExp, env: Record<string, string> = {}) {
  const result = await runCli(args, { env });
  expect(result.code).toBe(125);
  expect(result.stdout).toBe("");
  expect(result.stderr).toMatch(message);
  expect(result.stderr).toStartWith("boxlite: ");
  return result;
}

test("an image whose registry cannot be reached is refused, naming the registry", async () => {
  await expectFailure(["--registry", "127.0.0.1:1", "run", "--rm", "no-such-image", "--", "true"], /registry 127\.0\.0\.1:1/);
});

test("a malformed image reference is refused with what is wrong", async () => {
  await expectFailure(["run", "--rm", "No-Such-Image", "--", "true"], /invalid image reference "No-Such-Image": repository names are lowercase/);
});

test("--memory and --cpus out of range are refused", async () => {
  await expectFailure(["run", "--rm", "--memory", "64", "--", "true"], /--memory \(MiB\) 64 is out of range/);
  await expectFailure(["run", "--rm", "--cpus", "0", "--", "true"], /--cpus 0 is out of range/);
  await expectFailure(["run", "--rm", "--cpus", "many", "--", "true"], /--cpus "many" is not a whole number/);
});

test("a malformed -e is refused", async () => {
  await expectFailure(["run", "--rm", "-e", "NO_EQUALS_SIGN", "--", "true"], /invalid environment entry "NO_EQUALS_SIGN"/);
});

test("an unknown flag is a usage error", async () => {
  await expectFailure(["run", "--bogus", "--", "true"], /Unknown option '--bogus'.*boxlite run --help/);
});

test("-t without a terminal on stdin is refused", async () => {
  await expectFailure(["run", "-t", "--", "true"], /not a TTY/);
});

test("a missing QEMU names the package to install", async () => {
  await expectFailure(["run", "--rm", "--", "true"], /QEMU.*apt-get install qemu-system-x86/, { BOXLITE_QEMU: "/nonexistent/qemu" });
});

test("a missing libkrunfw names the package to install", async () => {
  await expectFailure(["run", "--rm", "--", "true"], /libkrunfw.*libkrunfw5/, { BOXLITE_LIBKRUNFW: "/nonexistent/libkrunfw.so.5" });
});

test("a guest that never comes up fails in bounded time with the console tail, leaving no VM", async () => {
  const home = process.env.BOXLITE_HOME as string;
  const before = existsSync(join(home, "boxes")) ? readdirSync(join(home, "boxes")).length : 0;
  const started = Date.now();
  // The kernel waits forever for a root disk that does not exist: the agent never starts.
  const result = await expectFailure(["run", "--rm", "--", "true"], /did not come up within 3 s/, {
    BOXLITE_BOOT_TIMEOUT: "3",
    BOXLITE_KERNEL_ARGS: "root=/dev/vdz rootwait",
  });
  expect(Date.now() - started).toBeLessThan(30_000);
  expect(result.stderr).toContain("console tail");
  expect(qemuProcesses(home).length).toBe(0);
  expect(existsSync(join(home, "boxes")) ? readdirSync(join(home, "boxes")).length : 0).toBe(before);
});

test("BOXLITE_DEBUG=1 adds the stack trace to an error, as --debug does", async () => {
  const plain = await expectFailure(["run", "--rm", "No-Such-Image", "--", "true"], /invalid image reference/);
  expect(plain.stderr).not.toContain("    at ");
  const flag = await expectFailure(["--debug", "run", "--rm", "No-Such-Image", "--", "true"], /invalid image reference/);
  expect(flag.stderr).toContain("    at ");
  const env = await expectFailure(["run", "--rm", "No-Such-Image", "--", "true"], /invalid image reference/, { BOXLITE_DEBUG: "1" });
  expect(env.stderr).toContain("    at ");
});
