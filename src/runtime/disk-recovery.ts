/**
 * Finishing or undoing disk operations a crash interrupted (disk-op.ts's markers), when a
 * home is opened: a fork whose new overlay exists is finished and recorded (the snapshot's
 * or the clone base's row), any other is undone. A box whose VM still runs is left to its
 * owner unless its fork is already complete; a box whose disk lock is held is being worked
 * on right now and is left alone.
 */
import { existsSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { getBaseDisk, mintBaseDiskId } from "../db/bases.ts";
import { getBox } from "../db/boxes.ts";
import { findSnapshot } from "../db/snapshots.ts";
import { type ForkPlan, recoverFork } from "../disk/fork.ts";
import { readQcow2Info } from "../disk/qcow2.ts";
import { isBoxliteError } from "../util/errors.ts";
import { boxLayout } from "./box-layout.ts";
import { recordCloneBase } from "./clone.ts";
import { dropPendingEntry, lockDiskOps, type PendingOp, pendingBoxes, readMarker, removeMarker } from "./disk-op.ts";
import type { Home } from "./home.ts";
import { isBoxVmm } from "./reconcile.ts";
import { recordSnapshot } from "./snapshots.ts";

/** Whether the live disk already sits on the fork's destination (step 4 done). */
function forkComplete(fork: Pick<ForkPlan, "live" | "dest">): boolean {
  try {
    return readQcow2Info(fork.live).backingFile === fork.dest;
  } catch {
    return false;
  }
}

function record(home: Home, boxId: string, op: PendingOp, fork: ForkPlan): void {
  if (op.operation === "snapshot" && op.snapshot && !findSnapshot(home.database.db, boxId, op.snapshot.name))
    recordSnapshot(home, boxId, fork.dest, op.snapshot);
  if (op.operation === "clone" && op.base && !getBaseDisk(home.database.db, op.base.id)) recordCloneBase(home, boxId, fork.dest, op.base);
}

/**
 * The reference's own marker (`{snapshot_dir, container_disk}`, no fork plan): its fork renames
 * the live disk to `snapshot_dir/disk.qcow2`, then makes a new overlay at `container_disk`.
 * A live disk that is missing is renamed back (the snapshot is undone); one that already sits
 * on the snapshot keeps it, recorded under the directory's name.
 */
function recoverReferenceMarker(home: Home, boxId: string, op: PendingOp): void {
  const snapshotDir = op.snapshot_dir;
  if (snapshotDir === undefined) return;
  const snapshotDisk = join(snapshotDir, "disk.qcow2");
  const name = basename(snapshotDir);
  const { db } = home.database;
  if (!existsSync(op.container_disk) && existsSync(snapshotDisk)) {
    renameSync(snapshotDisk, op.container_disk);
    if (!findSnapshot(db, boxId, name)) rmSync(snapshotDir, { recursive: true, force: true });
    return;
  }
  const done = existsSync(snapshotDisk) && forkComplete({ live: op.container_disk, dest: snapshotDisk });
  if (done && !findSnapshot(db, boxId, name))
    recordSnapshot(home, boxId, snapshotDisk, { id: mintBaseDiskId(), name, created_at: Math.floor(Date.now() / 1000) });
  if (!done && !findSnapshot(db, boxId, name)) rmSync(snapshotDir, { recursive: true, force: true });
}

function recoverBox(home: Home, boxId: string): void {
  const { config, database } = home;
  const box = getBox(database.db, boxId);
  const layout = boxLayout(config, boxId);
  const op = box ? readMarker(layout.dir) : undefined;
  if (!box || !op) {
    dropPendingEntry(config, boxId);
    return;
  }
  using _lock = lockDiskOps(config, boxId, "recover a disk operation");
  if (readMarker(layout.dir) === undefined) return; // finished by its own process meanwhile
  const { fork } = op;
  if (fork === undefined) {
    if (isBoxVmm(box.pid, layout.dir)) return;
    recoverReferenceMarker(home, boxId, op);
  } else if (isBoxVmm(box.pid, layout.dir)) {
    if (!forkComplete(fork)) return; // its owner may be mid-fork: look again at the next open
    record(home, boxId, op, fork);
  } else if (recoverFork(fork) === "done") {
    record(home, boxId, op, fork);
  } else if (op.operation === "snapshot") {
    rmSync(dirname(fork.dest), { recursive: true, force: true });
  } else if (existsSync(fork.dest) && !getBaseDisk(database.db, op.base?.id ?? "")) {
    rmSync(fork.dest, { force: true });
  }
  removeMarker(config, boxId, layout.dir);
}

/**
 * Before a box starts: a marker left in its directory (by a crash here, or by the reference,
 * whose markers are not in our index) is dealt with first, so the box never boots a disk
 * that a fork left half-way. The caller holds the box's lock; a busy disk lock is refused.
 */
export function recoverBoxBeforeStart(home: Home, boxId: string): void {
  if (readMarker(boxLayout(home.config, boxId).dir) === undefined) return;
  recoverBox(home, boxId);
}

/** Recovers every pending operation it can; returns a warning for each it could not. */
export function recoverDiskOps(home: Home): string[] {
  const warnings: string[] = [];
  for (const boxId of pendingBoxes(home.config)) {
    try {
      recoverBox(home, boxId);
    } catch (error) {
      // Busy: another process is doing it right now.
      if (isBoxliteError(error) && error.code === "busy") continue;
      warnings.push(`box ${boxId}: an interrupted snapshot or clone could not be recovered: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return warnings;
}
