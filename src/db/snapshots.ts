/**
 * The `snapshot` table: one row per named snapshot of a box, with the reference's
 * SnapshotInfo as JSON. serde flattens its `disk_info`, so the blob is
 * `{id, box_id, name, created_at, base_path, container_disk_bytes, size_bytes}`; a
 * nested `disk_info` object is accepted on read too.
 */
import type { Database } from "bun:sqlite";
import { basename, join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { type JsonObject, type JsonValue, corrupt, isJsonObject, parseJsonObject, requireString } from "./json.ts";
import { isConstraintViolation } from "./sqlite-errors.ts";

export interface DiskInfo {
  /** The immutable disk (v7+: its qcow2 file; rows migrated from v6: the snapshot directory). */
  base_path: string;
  /** Virtual size of the container disk, bytes. */
  container_disk_bytes: number;
  /** Bytes the disk uses on the host. */
  size_bytes: number;
}

export interface SnapshotInfo extends DiskInfo {
  [key: string]: JsonValue | undefined;
  /** 8-character nanoid. */
  id: string;
  box_id: string;
  name: string;
  /** Unix seconds. */
  created_at: number;
}

/** Reads `{base_path, container_disk_bytes, size_bytes}` flat or from a nested `disk_info`. */
export function readDiskInfo(object: JsonObject, what: string): DiskInfo {
  const source = isJsonObject(object.disk_info) ? object.disk_info : object;
  const base_path = requireString(source, "base_path", what);
  const sizes = ["container_disk_bytes", "size_bytes"].map((key) => {
    const value = source[key] ?? 0;
    if (typeof value !== "number" || !Number.isInteger(value) || value < 0) throw corrupt(what, `field "${key}" is not a byte count`);
    return value;
  });
  return { base_path, container_disk_bytes: sizes[0] ?? 0, size_bytes: sizes[1] ?? 0 };
}

function toSnapshot(json: string, what: string): SnapshotInfo {
  const object = parseJsonObject(json, what);
  const { disk_info: _nested, ...rest } = object;
  const created_at = object.created_at;
  if (typeof created_at !== "number" || !Number.isInteger(created_at)) throw corrupt(what, 'field "created_at" is not an integer');
  return {
    ...rest,
    id: requireString(object, "id", what),
    box_id: requireString(object, "box_id", what),
    name: requireString(object, "name", what),
    created_at,
    ...readDiskInfo(object, what),
  };
}

interface JsonRow {
  id: string;
  json: string;
}

const COLUMNS = "SELECT id, json FROM snapshot";

export function insertSnapshot(db: Database, info: SnapshotInfo): void {
  try {
    db.query("INSERT INTO snapshot (id, box_id, name, created_at, json) VALUES (?1, ?2, ?3, ?4, ?5)").run(
      info.id,
      info.box_id,
      info.name,
      info.created_at,
      JSON.stringify(info),
    );
  } catch (error) {
    if (!isConstraintViolation(error)) throw error;
    throw new BoxliteError("already_exists", `box ${info.box_id} already has a snapshot named "${info.name}" (or id ${info.id} is taken)`);
  }
}

export function findSnapshot(db: Database, boxId: string, name: string): SnapshotInfo | undefined {
  const row = db.query<JsonRow, [string, string]>(`${COLUMNS} WHERE box_id = ?1 AND name = ?2`).get(boxId, name);
  return row === null ? undefined : toSnapshot(row.json, `snapshot ${row.id} of box ${boxId}`);
}

/** A box's snapshots, newest first (ties, within one second, by insertion). */
export function listSnapshots(db: Database, boxId: string): SnapshotInfo[] {
  const rows = db.query<JsonRow, [string]>(`${COLUMNS} WHERE box_id = ?1 ORDER BY created_at DESC, rowid DESC`).all(boxId);
  return rows.map((row) => toSnapshot(row.json, `snapshot ${row.id} of box ${boxId}`));
}

export function deleteSnapshot(db: Database, id: string): boolean {
  return db.query("DELETE FROM snapshot WHERE id = ?1").run(id).changes > 0;
}

export function deleteSnapshotsOfBox(db: Database, boxId: string): number {
  return db.query("DELETE FROM snapshot WHERE box_id = ?1").run(boxId).changes;
}

/**
 * The snapshot's disk file. Rows migrated from v6 carry the snapshot directory in
 * base_path (the reference copied `snapshot_dir` there); its container disk is
 * `disk.qcow2` inside it.
 */
export function snapshotDiskPath(info: DiskInfo): string {
  return basename(info.base_path).endsWith(".qcow2") ? info.base_path : join(info.base_path, "disk.qcow2");
}
