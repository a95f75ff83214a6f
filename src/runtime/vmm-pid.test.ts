import { afterAll, afterEach, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isBoxVmm } from "./reconcile.ts";
import { startTimeOf } from "../util/proc.ts";
import { startTimeMatches, writeVmmPid } from "./vmm-pid.ts";

const boxDir = mkdtempSync(join(tmpdir(), "boxlite-vmm-pid-"));
afterAll(() => rmSync(boxDir, { recursive: true, force: true }));
const procs: Bun.Subprocess[] = [];
afterEach(() => {
  for (const proc of procs.splice(0)) proc.kill();
  rmSync(join(boxDir, "shim.pid"), { force: true });
});

/** A process whose command line names the box directory, as a VMM's does (once it has exec'd). */
async function fakeVmm(): Promise<number> {
  const proc = Bun.spawn(["sh", "-c", "sleep 60", `${boxDir}/disks/disk.qcow2`]);
  procs.push(proc);
  while (!readFileSync(`/proc/${proc.pid}/cmdline`, "utf8").includes(boxDir)) await Bun.sleep(5);
  return proc.pid;
}

test("a VMM recorded with its start time is recognised", async () => {
  const pid = await fakeVmm();
  writeVmmPid(boxDir, pid);
  expect(startTimeOf(pid)).toMatch(/^\d+$/);
  expect(isBoxVmm(pid, boxDir)).toBe(true);
});

test("a reused pid (same pid, another start time) is not the box's VMM, even if its command line matches", async () => {
  const pid = await fakeVmm();
  writeFileSync(join(boxDir, "shim.pid"), `${pid}\n1\n`);
  expect(startTimeMatches(boxDir, pid)).toBe(false);
  expect(isBoxVmm(pid, boxDir)).toBe(false);
});

test("without shim.pid (a box from before, or the reference's) the command line decides", async () => {
  const pid = await fakeVmm();
  expect(isBoxVmm(pid, boxDir)).toBe(true);
  expect(isBoxVmm(pid, `${boxDir}-other`)).toBe(false);
  expect(isBoxVmm(2 ** 22 + 7, boxDir)).toBe(false);
});
