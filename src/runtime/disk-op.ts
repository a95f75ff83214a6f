/**
 * What every disk operation on a box (snapshot, restore, clone) shares: the box's disk lock
 * (two at once: one wins, the other is told "busy"), named crash points for the crash
 * tests, and the pending marker that lets a crashed operation be finished or undone.
 *
 * The marker is the reference's `boxes/<id>/.snapshot_pending` (`{snapshot_dir,
 * container_disk}`) with our fields added; an empty file `tmp/pending/<id>` points at it,
 * so that opening a home finds pending operations with one small readdir (recovery.ts).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { busyError, FileLock } from "../util/flock.ts";
import type { ForkPlan } from "../disk/fork.ts";

/** A disk operation in progress, as its marker records it. */
export interface PendingOp {
  /** The reference's fields: the snapshot's directory and the live container disk. */
  snapshot_dir?: string;
  container_disk: string;
  /** Ours only: the reference's marker has neither (disk-recovery.ts reads both). */
  operation?: "snapshot" | "clone";
  fork?: ForkPlan;
  /** snapshot: its row, inserted once the fork is done. */
  snapshot?: { id: string; name: string; created_at: number };
  /** clone: the base's row, inserted once the fork is done. */
  base?: { id: string; created_at: number };
}

export const MARKER = ".snapshot_pending";

function pendingIndex(config: Config): string {
  return join(config.home, "tmp", "pending");
}

/** Takes the box's disk lock, or fails at once with "box X is busy: <operation> by pid N". */
export function lockDiskOps(config: Config, boxId: string, operation: string): FileLock {
  const dir = join(config.home, "locks");
  mkdirSync(dir, { recursive: true });
  const attempt = FileLock.tryAcquire(join(dir, `${boxId}.disk`), operation);
  if (attempt instanceof FileLock) return attempt;
  throw busyError(`box ${boxId}`, attempt.busy);
}

/** Records `op` for box `boxId` (its directory is `boxDir`), durably, before its first step. */
export function writeMarker(config: Config, boxId: string, boxDir: string, op: PendingOp): void {
  mkdirSync(pendingIndex(config), { recursive: true });
  writeFileSync(join(pendingIndex(config), boxId), "");
  const path = join(boxDir, MARKER);
  writeFileSync(`${path}.tmp`, JSON.stringify(op));
  renameSync(`${path}.tmp`, path);
}

export function readMarker(boxDir: string): PendingOp | undefined {
  const path = join(boxDir, MARKER);
  if (!existsSync(path)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (cause) {
    throw new BoxliteError("disk", `${path} is not JSON: remove it after checking the box's disks`, { cause });
  }
  return value as PendingOp;
}

export function removeMarker(config: Config, boxId: string, boxDir: string): void {
  rmSync(join(boxDir, MARKER), { force: true });
  rmSync(join(pendingIndex(config), boxId), { force: true });
}

/** Boxes with a pending operation, from the index. */
export function pendingBoxes(config: Config): string[] {
  try {
    return readdirSync(pendingIndex(config));
  } catch {
    return [];
  }
}

/** Forgets an index entry whose box has no marker any more. */
export function dropPendingEntry(config: Config, boxId: string): void {
  rmSync(join(pendingIndex(config), boxId), { force: true });
}
