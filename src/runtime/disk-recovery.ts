/**
 * Finishing or undoing disk operations a crash interrupted (disk-op.ts's markers), when a
 * home is opened: a fork whose new overlay exists is finished and recorded (the snapshot's
 * or the clone base's row), any other is undone. A box whose VM still runs is left to its
 * owner unless its fork is already complete; a box whose disk lock is held is being worked
 * on right now and is left alone.
 */
import { existsSync } from "node:fs";
import { getBaseDisk } from "../db/bases.ts";
import { getBox } from "../db/boxes.ts";
import { findSnapshot } from "../db/snapshots.ts";
import { recoverFork } from "../disk/fork.ts";
import { readQcow2Info } from "../disk/qcow2.ts";
import { isBoxliteError } from "../util/errors.ts";
import { boxLayout } from "./box-layout.ts";
import { recordCloneBase } from "./clone.ts";
import { dropPendingEntry, lockDiskOps, type PendingOp, pendingBoxes, readMarker, removeMarker } from "./disk-op.ts";
import type { Home } from "./home.ts";
import { isBoxVmm } from "./reconcile.ts";
import { recordSnapshot } from "./snapshots.ts";
import { rmSync } from "node:fs";
import { dirname } from "node:path";

/** Whether the live disk already sits on the fork's destination (step 4 done). */
function forkComplete(op: PendingOp): boolean {
  try {
    return readQcow2Info(op.fork.live).backingFile === op.fork.dest;
  } catch {
    return false;
  }
}

function record(home: Home, boxId: string, op: PendingOp): void {
  if (op.operation === "snapshot" && op.snapshot && !findSnapshot(home.database.db, boxId, op.snapshot.name))
    recordSnapshot(home, boxId, op.fork.dest, op.snapshot);
  if (op.operation === "clone" && op.base && !getBaseDisk(home.database.db, op.base.id)) recordCloneBase(home, boxId, op.fork.dest, op.base);
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
  if (isBoxVmm(box.pid, layout.dir)) {
    if (!forkComplete(op)) return; // its owner may be mid-fork: look again at the next open
    record(home, boxId, op);
  } else if (recoverFork(op.fork) === "done") {
    record(home, boxId, op);
  } else if (op.operation === "snapshot") {
    rmSync(dirname(op.fork.dest), { recursive: true, force: true });
  } else if (existsSync(op.fork.dest) && !getBaseDisk(database.db, op.base?.id ?? "")) {
    rmSync(op.fork.dest, { force: true });
  }
  removeMarker(config, boxId, layout.dir);
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
