/**
 * A box whose VM died but left processes of its group behind (its watchdog killed on its
 * own, say), with real processes standing in for them: reconciliation and `rm` kill the
 * leftovers by fingerprint, and never a process that merely has a recorded pid.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../config/config.ts";
import { getBox, updateBoxState } from "../db/boxes.ts";
import { isRunning, type ProcessFingerprint, startTimeOf } from "../util/proc.ts";
import { boxLayout } from "./box-layout.ts";
import { createBox } from "./create.ts";
import { type Home, openHome } from "./home.ts";
import { ORPHANED_REASON, reconcileBox } from "./reconcile.ts";
import { removeBoxByName } from "./remove.ts";
import { killLeftovers, runningMembers } from "./vm-group.ts";
import { readVmmGroup, removeVmmPid, writeVmmGroup } from "./vmm-pid.ts";

let home: Home;
beforeAll(async () => {
  home = await openHome(loadConfig());
});
afterAll(() => home.close());

const spawned: Bun.Subprocess[] = [];
afterEach(() => {
  for (const proc of spawned.splice(0)) proc.kill("SIGKILL");
});

/** A live process, as a leftover helper of a dead VM would be. */
function leftover(): ProcessFingerprint {
  const proc = Bun.spawn(["sleep", "600"]);
  spawned.push(proc);
  return { pid: proc.pid, startTime: startTimeOf(proc.pid) as string };
}

/** The pid of a process that has ended. */
async function deadPid(): Promise<number> {
  const proc = Bun.spawn(["true"]);
  await proc.exited;
  return proc.pid;
}

/** A box recorded as running under a dead watchdog, with `members` recorded as its group. */
async function boxWithDeadVm(members: ProcessFingerprint[]): Promise<{ id: string; dir: string }> {
  const id = await createBox(home, { cmd: ["true"] });
  const dir = boxLayout(home.config, id).dir;
  const watchdog = await deadPid();
  writeFileSync(join(dir, "shim.pid"), `${watchdog}\n12345\n`);
  writeVmmGroup(
    dir,
    members.map((member, index) => ({ ...member, name: index === members.length - 1 ? "vmm" : `helper${index}` })),
  );
  updateBoxState(home.database.db, id, { status: "running", pid: watchdog });
  return { id, dir };
}

async function waitGone(process: ProcessFingerprint): Promise<boolean> {
  const deadline = Date.now() + 5000;
  while (isRunning(process) && Date.now() < deadline) await Bun.sleep(10);
  return !isRunning(process);
}

test("group.pid is written and read back as PID START_TIME NAME lines; a malformed line is skipped, never acted on", () => {
  const dir = boxLayout(home.config, "records").dir;
  Bun.spawnSync(["mkdir", "-p", dir]);
  writeVmmGroup(dir, [
    { pid: 11, startTime: "22", name: "net" },
    { pid: 33, startTime: "44", name: "vmm" },
  ]);
  expect(readFileSync(join(dir, "group.pid"), "utf8")).toBe("11 22 net\n33 44 vmm\n");
  writeFileSync(join(dir, "group.pid"), "11 22 net\n1 rm -rf\n\n33 44 vmm\n");
  expect(readVmmGroup(dir)).toEqual([
    { pid: 11, startTime: "22", name: "net" },
    { pid: 33, startTime: "44", name: "vmm" },
  ]);
  removeVmmPid(dir);
  expect(existsSync(join(dir, "group.pid"))).toBe(false);
});

test("a leftover of a dead VM is killed; a reused pid (same pid, another start time) is not", async () => {
  const helper = leftover();
  const reused = leftover();
  const { dir } = await boxWithDeadVm([helper, { pid: reused.pid, startTime: "1" }]);
  expect(runningMembers(dir).map((member) => member.pid)).toEqual([helper.pid]);
  expect(killLeftovers(dir).map((member) => member.pid)).toEqual([helper.pid]);
  expect(await waitGone(helper)).toBe(true);
  expect(isRunning(reused)).toBe(true);
});

test("reconciling a box whose VM died kills what its group left, records it failed, and drops the records", async () => {
  const helper = leftover();
  const vmm = leftover();
  const { id, dir } = await boxWithDeadVm([helper, vmm]);
  expect(reconcileBox(home.config, home.database, id, "running", getBox(home.database.db, id)?.pid ?? null)).toBe("failed");
  expect(getBox(home.database.db, id)).toMatchObject({ status: "failed", state: { error_reason: ORPHANED_REASON } });
  expect(await waitGone(helper)).toBe(true);
  expect(await waitGone(vmm)).toBe(true);
  expect(existsSync(join(dir, "group.pid"))).toBe(false);
  expect(existsSync(join(dir, "shim.pid"))).toBe(false);
});

test("rm of a box whose VM died kills its leftovers before its directory goes, never a reused pid", async () => {
  const helper = leftover();
  const reused = leftover();
  const { id } = await boxWithDeadVm([helper, { pid: reused.pid, startTime: "1" }]);
  updateBoxState(home.database.db, id, { status: "stopped", pid: null });
  await removeBoxByName(home, id, false);
  expect(getBox(home.database.db, id)).toBeUndefined();
  expect(await waitGone(helper)).toBe(true);
  expect(isRunning(reused)).toBe(true);
});
