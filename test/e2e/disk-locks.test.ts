/**
 * A disk operation holds its locks until it is done, not until its function returned a
 * promise: a snapshot keeps the box's disk lock through its fork (else a recovery in another
 * process took the half-done fork for a crashed one and recorded the snapshot itself — the
 * soak saw the snapshot then fail as "already has a snapshot"), and an export of a stopped box
 * keeps the box's lock through its flatten (else the box could start under it).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { FileLock } from "../../src/util/flock.ts";
import { runCli } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const HOME = process.env.BOXLITE_HOME ?? "";
const temp = new TempDirs();
let id: string;

/** Polls, a turn of the event loop at a time, until `seen` holds or `work` settled; whether it held. */
async function whileRunning(work: Promise<unknown>, seen: () => boolean): Promise<boolean> {
  let settled = false;
  void work.then(
    () => (settled = true),
    () => (settled = true),
  );
  while (!settled) {
    if (seen()) return true;
    await new Promise((resolve) => setImmediate(resolve));
  }
  return false;
}

/** Whether another taker finds `path` locked (a lock it got is let go at once). */
function isHeld(path: string): boolean {
  const attempt = FileLock.tryAcquire(path, "test");
  if (!(attempt instanceof FileLock)) return true;
  attempt.release();
  return false;
}

beforeAll(async () => {
  const run = await runCli(["run", "-d", "--name", "e2e-locks", "--network", "disabled", "--", "sleep", "3600"]);
  expect(run.code, run.stderr).toBe(0);
  id = run.stdout.trim();
});

afterAll(async () => {
  await runCli(["rm", "-f", "e2e-locks"]);
  temp.removeAll();
});

test("a snapshot of a running box holds the box's disk lock while its fork is pending", async () => {
  const snapshot = runtime.createSnapshot(id, "held");
  const marker = join(HOME, "boxes", id, ".snapshot_pending");
  expect(await whileRunning(snapshot, () => existsSync(marker))).toBe(true);
  expect(isHeld(join(HOME, "locks", `${id}.disk`))).toBe(true);
  expect((await snapshot).name).toBe("held");
});

test("an export of a stopped box holds the box's lock while it flattens the disk", async () => {
  expect((await runCli(["stop", id])).code).toBe(0);
  const exported = runtime.exportBox(id, join(temp.make("boxlite-locks-"), "box.boxlite"));
  const staging = () => readdirSync(join(HOME, "tmp")).some((name) => name.startsWith(`export-${process.pid}-`));
  expect(await whileRunning(exported, staging)).toBe(true);
  expect(isHeld(join(HOME, "locks", id))).toBe(true);
  await exported;
});
