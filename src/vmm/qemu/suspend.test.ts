/** What a resumed VM must share with the one saved, and how its RAM must be named. */
import { expect, test } from "bun:test";
import { everyDeviceSpec, typicalSpec } from "../../../test/helpers/vm-spec.ts";
import { checkIdentity, DEFAULT_RAM_ID, saveRefusal, vmIdentity } from "./suspend.ts";

const QEMU = process.execPath; // any file: its path, size and mtime are what count
const spec = typicalSpec("/tmp/suspend-test");

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
