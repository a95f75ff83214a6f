/**
 * Snapshots of a box's disk (docs/snapshots.md): `snapshots/<name>/disk.qcow2` is the
 * disk as it was, immutable; the box goes on in a new overlay on it. A running box is
 * quiesced by its owner for the fork; a stopped one is forked here under its lock.
 * Restoring puts a new overlay on a snapshot in place of the live disk (stopped boxes
 * only). A snapshot that any other disk's chain goes through cannot be removed.
 */
import { mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { type BoxRecord, resolveExistingBox } from "../db/boxes.ts";
import { mintBaseDiskId } from "../db/bases.ts";
import { deleteSnapshot, findSnapshot, insertSnapshot, listSnapshots, type SnapshotInfo, snapshotDiskPath } from "../db/snapshots.ts";
import { type ForkPlan, forkDisk, planFork } from "../disk/fork.ts";
import { createOverlay, readQcow2Info } from "../disk/qcow2.ts";
import { BoxliteError } from "../util/errors.ts";
import { busyError, FileLock } from "../util/flock.ts";
import { decideFor } from "./box-facts.ts";
import { tryLockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { discardMemory } from "./box-memory.ts";
import { connectBox } from "./box-socket.ts";
import { crashPoint } from "../config/crash.ts";
import { lockDiskOps, type PendingOp, removeMarker, writeMarker } from "./disk-op.ts";
import { dependentsOf, homeDisks } from "./disk-usage.ts";
import type { Home } from "./home.ts";
import { isActiveStatus } from "../model/box-state.ts";
import type { QuiesceRequest } from "../guest-protocol/quiesce.ts";

/** The reference's limit on a snapshot name, in bytes. */
const MAX_NAME_BYTES = 255;

/** The reference's rules: a name is one path segment that is not hidden. */
export function checkSnapshotName(name: string): void {
  const bad = (why: string) => new BoxliteError("invalid_argument", `snapshot name ${JSON.stringify(name)} ${why}`);
  if (name === "") throw bad("is empty; give a name such as before-upgrade");
  if (name === "." || name === "..") throw bad("is a path component; choose another name");
  if (name.startsWith(".")) throw bad("starts with '.'; names of hidden files are reserved");
  if (/[/\\\0]/.test(name)) throw bad("holds '/', '\\' or NUL; use letters, digits, '-', '_' or '.'");
  if (new TextEncoder().encode(name).length > MAX_NAME_BYTES) throw bad(`is longer than ${MAX_NAME_BYTES} bytes`);
}

/** Bytes a file takes on the host (sparse files take less than their length). */
export function allocatedBytes(path: string): number {
  return statSync(path).blocks * 512;
}

/**
 * Forks the live disk of `box` to `dest`: through its owner when it runs (the pause is the
 * owner's), here under its lock when not.
 */
async function forkBoxDisk(home: Home, box: BoxRecord, plan: ForkPlan, step: (name: string) => void): Promise<void> {
  using boxLock = lockUnlessRunning(home, box);
  if (boxLock === undefined) {
    await whilePaused(home, box, { fork: { dest: plan.dest, next: plan.next } }, () => step("quiesced"));
    return;
  }
  await forkDisk(plan, { step });
}

/**
 * A fork of the box's live disk as a crash-safe operation (disk-op.ts): the marker first,
 * then the fork, then `record` (the row that makes its result visible), then the marker
 * goes. A failed fork takes its marker and, through `undo`, what was made for it; a crash is
 * finished or undone when the home opens (disk-recovery.ts). Crash points: `<operation>-marked`,
 * `<operation>-fork-…`, and `<operation>-<recordedPoint>` once recorded.
 */
export async function forkRecorded<T>(
  home: Home,
  box: BoxRecord,
  op: PendingOp & { operation: "snapshot" | "clone"; fork: ForkPlan },
  recordedPoint: string,
  record: () => T,
  undo: () => void = () => {},
): Promise<T> {
  const { config } = home;
  const { dir } = boxLayout(config, box.id);
  writeMarker(config, box.id, dir, op);
  const step = (point: string) => crashPoint(config, `${op.operation}-${point}`);
  step("marked");
  try {
    await forkBoxDisk(home, box, op.fork, step);
  } catch (error) {
    removeMarker(config, box.id, dir);
    undo();
    throw error;
  }
  const recorded = record();
  step(recordedPoint);
  removeMarker(config, box.id, dir);
  return recorded;
}

/** Runs `work` while the running `box` is held still by its owner (QUIESCE), then resumes it, whatever `work` did. */
async function whilePaused<T>(home: Home, box: BoxRecord, request: QuiesceRequest, work: () => T | Promise<T>): Promise<T> {
  const channel = await connectBox(home, box);
  try {
    const hold = await channel.quiesce(request);
    try {
      return await work();
    } finally {
      await hold.resume();
    }
  } finally {
    channel.close();
  }
}

/** Runs `work` while the box's disk holds still: a stopped box under its lock (none starts), a running one paused by its owner. */
export async function withDiskStill<T>(home: Home, box: BoxRecord, work: () => T | Promise<T>): Promise<T> {
  using boxLock = lockUnlessRunning(home, box);
  if (boxLock === undefined) return whilePaused(home, box, {}, work);
  // Awaited here: `using` lets go of the lock when this returns, which must be after the work.
  return await work();
}

/** The box's lock when it has no VM (so none starts during the fork); undefined when it runs (its owner holds it). */
function lockUnlessRunning(home: Home, box: BoxRecord): FileLock | undefined {
  const attempt = tryLockBox(home.config, box.id, "snapshot");
  if (attempt instanceof FileLock) {
    // Started and stopped meanwhile, or never running: the record under the lock decides.
    decideFor(resolveExistingBox(home.database.db, box.id), "snapshot");
    return attempt;
  }
  const fresh = resolveExistingBox(home.database.db, box.id);
  if (fresh.status === "running") return undefined;
  decideFor(fresh, "snapshot");
  throw busyError(`box ${box.id}`, attempt.busy);
}

export async function createSnapshot(home: Home, idOrName: string, name: string): Promise<SnapshotInfo> {
  checkSnapshotName(name);
  const { config, database } = home;
  const found = resolveExistingBox(database.db, idOrName);
  using _diskLock = lockDiskOps(config, found.id, "snapshot");
  const box = resolveExistingBox(database.db, found.id);
  // Under the disk lock: a second operation on the box is "busy", never a status it caused.
  decideFor(box, "snapshot");
  if (findSnapshot(database.db, box.id, name))
    throw new BoxliteError("already_exists", `box ${box.name ?? box.id} already has a snapshot named ${JSON.stringify(name)}`);
  const layout = boxLayout(config, box.id);
  const snapshotDir = join(layout.dir, "snapshots", name);
  const dest = join(snapshotDir, "disk.qcow2");
  // A directory without a row is what a crash left before its marker was written.
  rmSync(snapshotDir, { recursive: true, force: true });
  mkdirSync(snapshotDir, { recursive: true });
  const snapshot = { id: mintBaseDiskId(), name, created_at: Math.floor(Date.now() / 1000) };
  const op = { snapshot_dir: snapshotDir, container_disk: layout.disk, operation: "snapshot" as const, fork: planFork(layout.disk, dest), snapshot };
  // Awaited here: `using` lets go of the disk lock when this returns, and a recovery that got
  // it meanwhile would take the fork for a crashed one and record the snapshot itself.
  return await forkRecorded(
    home,
    box,
    op,
    "recorded",
    () => recordSnapshot(home, box.id, dest, snapshot),
    () => rmSync(snapshotDir, { recursive: true, force: true }),
  );
}

/** Inserts the row of a snapshot whose fork is done (also recovery's roll-forward). */
export function recordSnapshot(home: Home, boxId: string, dest: string, snapshot: { id: string; name: string; created_at: number }): SnapshotInfo {
  const info: SnapshotInfo = {
    ...snapshot,
    box_id: boxId,
    base_path: dest,
    container_disk_bytes: readQcow2Info(dest).virtualSize,
    size_bytes: allocatedBytes(dest),
  };
  insertSnapshot(home.database.db, info);
  return info;
}

export function listBoxSnapshots(home: Home, idOrName: string): SnapshotInfo[] {
  return listSnapshots(home.database.db, resolveExistingBox(home.database.db, idOrName).id);
}

export function getSnapshot(home: Home, idOrName: string, name: string): SnapshotInfo {
  checkSnapshotName(name);
  const box = resolveExistingBox(home.database.db, idOrName);
  const info = findSnapshot(home.database.db, box.id, name);
  if (!info)
    throw new BoxliteError("not_found", `box ${box.name ?? box.id} has no snapshot ${JSON.stringify(name)}; see 'boxlite snapshot ls ${box.name ?? box.id}'`);
  return info;
}

/** Removes a snapshot nothing needs any more; refused, naming what needs it, otherwise. */
export function removeSnapshot(home: Home, idOrName: string, name: string): void {
  const { config, database } = home;
  const info = getSnapshot(home, idOrName, name);
  using _diskLock = lockDiskOps(config, info.box_id, "snapshot rm");
  const disk = snapshotDiskPath(info);
  const needs = dependentsOf(disk, homeDisks(config, database));
  if (needs.length > 0) {
    const what = needs.map((user) => user.what).join(", ");
    throw new BoxliteError(
      "conflict",
      `snapshot ${JSON.stringify(name)} is still needed by ${what}; remove those first (a box's disk needs the snapshots it was restored from or taken after)`,
    );
  }
  deleteSnapshot(database.db, info.id);
  rmSync(dirname(disk), { recursive: true, force: true });
}

/**
 * Puts the box's disk back to the snapshot: a new overlay on it replaces the live disk. Stopped
 * boxes only. A suspended box's saved state belongs to the disk it had: it is discarded first,
 * so it can never be resumed over the restored one (the box boots from it).
 */
export function restoreSnapshot(home: Home, idOrName: string, name: string): void {
  const { config, database } = home;
  const info = getSnapshot(home, idOrName, name);
  const box = resolveExistingBox(database.db, info.box_id);
  const refuse = () =>
    new BoxliteError("conflict", `box ${box.name ?? box.id} is ${box.status}; stop it first ('boxlite stop ${box.name ?? box.id}'), then restore`);
  if (isActiveStatus(box.status) || box.status === "stopping") throw refuse();
  using _diskLock = lockDiskOps(config, box.id, "snapshot restore");
  const attempt = tryLockBox(config, box.id, "snapshot restore");
  if (!(attempt instanceof FileLock)) throw refuse();
  using _boxLock = attempt;
  const layout = boxLayout(config, box.id);
  const disk = snapshotDiskPath(info);
  const plan = planFork(layout.disk, disk);
  createOverlay({ path: plan.next, backingFile: disk, backingFormat: "qcow2", virtualSize: readQcow2Info(disk).virtualSize });
  crashPoint(config, "restore-overlay");
  discardMemory(layout.dir);
  // One rename: the live disk is the old one or the restored one, never neither.
  renameOver(plan.next, layout.disk);
  crashPoint(config, "restore-done");
}

function renameOver(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    rmSync(from, { force: true });
    throw error;
  }
}
