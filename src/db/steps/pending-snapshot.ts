/**
 * Recovery of a snapshot interrupted by a crash, from the `.snapshot_pending` marker
 * (`{snapshot_dir, container_disk}`, written before the live disk is renamed into the
 * snapshot directory and a new COW child is created in its place). Semantics are the
 * reference's local_snapshot.rs recover_pending_snapshot, plus two safety rules:
 * marker paths outside the box directory are ignored, and an abandoned snapshot
 * directory is removed in every case where the snapshot cannot have completed, so a
 * rerun after a crash in the middle of recovery ends in the same state.
 */
import { existsSync, readFileSync, rmSync } from "node:fs";
import { join, relative, resolve, isAbsolute } from "node:path";
import { fsyncPath, moveFile } from "../files.ts";
import { isJsonObject } from "../json.ts";

export const PENDING_MARKER = ".snapshot_pending";

export interface PendingSnapshotContext {
  warn(message: string): void;
  point(name: string): void;
  /** True when a committed snapshot row names this directory (it must never be removed). */
  isRecordedSnapshotDir(dir: string): boolean;
}

/** Settles the marker in `boxDir`, if any, and removes it. Safe to repeat. */
export function recoverPendingSnapshot(boxDir: string, boxId: string, context: PendingSnapshotContext): void {
  const marker = join(boxDir, PENDING_MARKER);
  if (!existsSync(marker)) return;
  const paths = readMarker(marker, boxDir);
  if (typeof paths === "string") {
    context.warn(`box ${boxId}: ${marker} ${paths}; removed it without touching any disk`);
  } else {
    settle(paths, boxId, context);
  }
  context.point(`box:${boxId}:snapshot-settled`);
  rmSync(marker, { force: true });
  fsyncPath(boxDir);
}

interface MarkerPaths {
  snapshotDir: string;
  containerDisk: string;
}

/** The marker's paths, or why they cannot be used. */
function readMarker(marker: string, boxDir: string): MarkerPaths | string {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(marker, "utf8"));
  } catch {
    return "is not valid JSON";
  }
  if (!isJsonObject(value)) return "is not a JSON object";
  const snapshotDir = value.snapshot_dir;
  const containerDisk = value.container_disk;
  if (typeof snapshotDir !== "string" || typeof containerDisk !== "string") {
    return "lacks snapshot_dir or container_disk (an older marker format)";
  }
  // The marker is data from the home: never let it move or delete files elsewhere.
  for (const path of [snapshotDir, containerDisk]) {
    if (!isInside(boxDir, path)) return `names ${path}, outside the box directory`;
  }
  return { snapshotDir: resolve(boxDir, snapshotDir), containerDisk: resolve(boxDir, containerDisk) };
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(resolve(dir), resolve(dir, path));
  return rel !== "" && !rel.startsWith("..") && !isAbsolute(rel);
}

function settle({ snapshotDir, containerDisk }: MarkerPaths, boxId: string, context: PendingSnapshotContext): void {
  const snapshotDisk = join(snapshotDir, "disk.qcow2");
  const liveExists = existsSync(containerDisk);
  const snapshotExists = existsSync(snapshotDisk);
  if (!liveExists && snapshotExists) {
    // Crashed after the rename, before the new COW child: the snapshot never finished.
    // Its disk is the box's live data, so it goes back.
    moveFile(snapshotDisk, containerDisk);
    context.point(`box:${boxId}:snapshot-disk-restored`);
    removeAbandoned(snapshotDir, context);
    return;
  }
  if (liveExists && snapshotExists) {
    // The COW child exists: the snapshot's disk is complete and the live disk depends on
    // it. Keep both (the reference keeps them too), even without a row.
    context.warn(`box ${boxId}: a snapshot at ${snapshotDir} finished but may not be recorded; kept it`);
    return;
  }
  if (!liveExists) {
    context.warn(`box ${boxId}: neither ${containerDisk} nor ${snapshotDisk} exists; the container disk is lost`);
  }
  // The snapshot never took the disk (or it was restored above before a crash).
  removeAbandoned(snapshotDir, context);
}

function removeAbandoned(snapshotDir: string, context: PendingSnapshotContext): void {
  if (!existsSync(snapshotDir) || context.isRecordedSnapshotDir(snapshotDir)) return;
  rmSync(snapshotDir, { recursive: true, force: true });
}
