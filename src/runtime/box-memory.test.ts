/** A suspended box's saved state on disk: whole or absent, checked before use, discarded without a trace. */
import { afterAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { loadConfig } from "../config/config.ts";
import { checkMemory, discardMemory, findMemory, isSuspended, saveMemory } from "./box-memory.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());
const config = loadConfig({ home: temp.make("box-memory-home-") });

function boxDir(): string {
  const dir = temp.make("box-memory-box-");
  mkdirSync(dir, { recursive: true });
  return dir;
}

const facts = { vmm: "qemu", vm: { format: 1, ram: ["ram"] }, main: { stream: 1, pid: 7 } };

test("a saved state is renamed into place whole, with its checksum, and is found, checked and discarded", async () => {
  const dir = boxDir();
  const manifest = await saveMemory(config, dir, async (statePath) => {
    writeFileSync(statePath, "the VM");
    return facts;
  });
  expect(manifest).toMatchObject({ format: 1, ...facts, state_bytes: 6 });
  expect(readdirSync(dir)).toEqual(["memory"]);
  expect(statSync(join(dir, "memory")).mode & 0o777).toBe(0o700);
  expect(isSuspended(dir)).toBe(true);
  const saved = findMemory(dir);
  expect(saved?.manifest).toEqual(manifest);
  await checkMemory(saved ?? expect.unreachable());
  discardMemory(dir);
  expect(readdirSync(dir)).toEqual([]);
  expect(isSuspended(dir)).toBe(false);
  expect(findMemory(dir)).toBeUndefined();
});

test("a save that fails leaves nothing behind, and the box is not suspended", async () => {
  const dir = boxDir();
  const failed = await saveMemory(config, dir, async (statePath) => {
    writeFileSync(statePath, "half");
    throw new Error("QEMU could not save the VM");
  }).catch((error: unknown) => error);
  expect(String(failed)).toContain("QEMU could not save the VM");
  expect(readdirSync(dir)).toEqual([]);
  expect(isSuspended(dir)).toBe(false);
});

test("a state that is not the one saved fails its check; a damaged manifest is an error, not a box that is not suspended", async () => {
  const dir = boxDir();
  await saveMemory(config, dir, async (statePath) => {
    writeFileSync(statePath, "the VM");
    return facts;
  });
  writeFileSync(join(dir, "memory", "state"), "the VN");
  const saved = findMemory(dir);
  expect(await checkMemory(saved ?? expect.unreachable()).catch((error: unknown) => error)).toMatchObject({
    code: "vmm_failed",
    message: "the box's saved state does not match its checksum",
  });
  writeFileSync(join(dir, "memory", "manifest.json"), "{");
  expect(() => findMemory(dir)).toThrow("unreadable manifest");
});

test("what a dead process left (a save or a discard killed midway) is removed when the box is next looked at", () => {
  const dir = boxDir();
  // pid 2^22+1 is above any pid_max: no such process.
  for (const name of ["memory.tmp-4194305-abc", "memory.discarded-4194305-1"]) mkdirSync(join(dir, name));
  mkdirSync(join(dir, `memory.tmp-${process.pid}-mine`));
  expect(findMemory(dir)).toBeUndefined();
  expect(readdirSync(dir)).toEqual([`memory.tmp-${process.pid}-mine`]);
});
