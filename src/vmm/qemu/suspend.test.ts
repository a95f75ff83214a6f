/** What a resumed VM must share with the one saved, and how its RAM must be named. */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { everyDeviceSpec, typicalSpec } from "../../../test/helpers/vm-spec.ts";
import { checkIdentity, DEFAULT_RAM_ID, saveRefusal, vmIdentity } from "./suspend.ts";

const QEMU = process.execPath; // any file: its path, size and mtime are what count
const temps = new TempDirs();
afterAll(() => temps.removeAll());

/** A spec whose kernel and system disk exist under `dir`, with these contents. */
function specWith(dir: string, kernel: string, system: string) {
  mkdirSync(join(dir, "runtime"), { recursive: true });
  writeFileSync(join(dir, "runtime", "kernel.elf"), kernel);
  writeFileSync(join(dir, "runtime", "system.ext4"), system);
  return typicalSpec(dir);
}

const spec = specWith(temps.make("suspend-test-"), "kernel", "system");

test("a state saved by the same VM resumes, its RAM named as saved (QEMU's default name: no backend of ours)", () => {
  expect(checkIdentity(vmIdentity(spec, QEMU, "tcg", [DEFAULT_RAM_ID]), spec, QEMU, "tcg")).toBeUndefined();
  expect(checkIdentity(vmIdentity(spec, QEMU, "tcg", ["ram"]), spec, QEMU, "tcg")).toBe("ram");
});

test("a state from another accelerator, machine size or QEMU is refused, naming what differs", () => {
  const saved = vmIdentity(spec, QEMU, "tcg", ["ram"]);
  expect(() => checkIdentity(saved, spec, QEMU, "kvm")).toThrow("(accelerator differ)");
  expect(() => checkIdentity(saved, { ...spec, memoryMib: spec.memoryMib * 2 }, QEMU, "tcg")).toThrow("memoryMib differ");
  expect(() => checkIdentity({ ...saved, qemu: { path: "/usr/bin/other" } }, spec, QEMU, "tcg")).toThrow("qemu differ");
  expect(() => checkIdentity({ ...saved, ram: ["a,b"] }, spec, QEMU, "tcg")).toThrow("names its RAM");
});

test("a VM with volumes cannot be saved: QEMU cannot save vhost-user-fs", () => {
  expect(saveRefusal(spec)).toBeUndefined();
  expect(saveRefusal(everyDeviceSpec("/tmp/suspend-test"))).toContain("vhost-user-fs");
});

test("the kernel and system disk count by their contents, not the runtime directory they are in", () => {
  const saved = vmIdentity(spec, QEMU, "tcg", ["ram"]);
  // Another user's runtime directory (an imported box), with the same files: resumed.
  expect(checkIdentity(saved, specWith(temps.make("suspend-elsewhere-"), "kernel", "system"), QEMU, "tcg")).toBe("ram");
  expect(() => checkIdentity(saved, specWith(temps.make("suspend-kernel-"), "kernel 2", "system"), QEMU, "tcg")).toThrow("(kernel differ)");
  expect(() => checkIdentity(saved, specWith(temps.make("suspend-system-"), "kernel", "system 2"), QEMU, "tcg")).toThrow("(systemDisk differ)");
});
