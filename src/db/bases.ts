/**
 * `base_disk` (immutable COW fork points: clone bases, rootfs bases, legacy snapshots)
 * and `base_disk_ref` (which box depends on which base, for garbage collection). The
 * JSON is the reference's BaseDisk with its disk_info flattened:
 * `{id, source_box_id, name?, kind, base_path, container_disk_bytes, size_bytes, created_at}`.
 */
import type { Database } from "bun:sqlite";
import { BoxliteError } from "../util/errors.ts";
import { type JsonValue, corrupt, parseJsonObject, requireString } from "./json.ts";
import { type DiskInfo, readDiskInfo } from "./snapshots.ts";
import { isConstraintViolation } from "./sqlite-errors.ts";

export type BaseDiskKind = "snapshot" | "clone_base" | "rootfs";
const KINDS: readonly string[] = ["snapshot", "clone_base", "rootfs"] satisfies BaseDiskKind[];

/** source_box_id of the shared guest rootfs cache, which belongs to no box. */
export const GLOBAL_SOURCE_BOX_ID = "__global__";

export interface BaseDisk extends DiskInfo {
  [key: string]: JsonValue | undefined;
  /** 8 base62 characters; the file is bases/<id>.ext4 or .qcow2. */
  id: string;
  source_box_id: string;
  /** Unique per source box when set; clone and rootfs bases have none. */
  name?: string | null;
  kind: BaseDiskKind;
  /** Unix seconds. */
  created_at: number;
}

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** A new random base-disk id: 8 base62 characters (about 47 bits). */
export function mintBaseDiskId(): string {
  let id = "";
  while (id.length < 8) {
    for (const byte of crypto.getRandomValues(new Uint8Array(16))) {
      // 248 = 4 × 62: reject the top of the byte range so every character is equally likely.
      if (byte < 248 && id.length < 8) id += BASE62[byte % 62];
    }
  }
  return id;
}

function toBaseDisk(json: string, what: string): BaseDisk {
  const object = parseJsonObject(json, what);
  const { disk_info: _nested, ...rest } = object;
  const kind = requireString(object, "kind", what);
  if (!KINDS.includes(kind)) throw corrupt(what, `kind "${kind}" is not one of ${KINDS.join(", ")}`);
  const created_at = object.created_at;
  if (typeof created_at !== "number" || !Number.isInteger(created_at)) throw corrupt(what, 'field "created_at" is not an integer');
  const name = object.name;
  if (name !== undefined && name !== null && typeof name !== "string") throw corrupt(what, 'field "name" is not a string');
  return {
    ...rest,
    id: requireString(object, "id", what),
    source_box_id: requireString(object, "source_box_id", what),
    kind: kind as BaseDiskKind,
    created_at,
    ...readDiskInfo(object, what),
  };
}

interface JsonRow {
  id: string;
  json: string;
}

function readRows(rows: JsonRow[]): BaseDisk[] {
  return rows.map((row) => toBaseDisk(row.json, `base disk ${row.id}`));
}

export function insertBaseDisk(db: Database, disk: BaseDisk): void {
  try {
    db.query(
      `INSERT INTO base_disk (id, source_box_id, name, kind, base_path, created_at, json)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
    ).run(disk.id, disk.source_box_id, disk.name ?? null, disk.kind, disk.base_path, disk.created_at, JSON.stringify(disk));
  } catch (error) {
    if (!isConstraintViolation(error)) throw error;
    throw new BoxliteError("conflict", `base disk ${disk.id} (or the name "${disk.name}" for box ${disk.source_box_id}) already exists`);
  }
}

export function getBaseDisk(db: Database, id: string): BaseDisk | undefined {
  return readRows(db.query<JsonRow, [string]>("SELECT id, json FROM base_disk WHERE id = ?1").all(id))[0];
}

export function findBaseDiskByPath(db: Database, basePath: string): BaseDisk | undefined {
  return readRows(db.query<JsonRow, [string]>("SELECT id, json FROM base_disk WHERE base_path = ?1").all(basePath))[0];
}

export interface BaseDiskFilter {
  sourceBoxId?: string;
  kind?: BaseDiskKind;
}

/** Base disks, newest first, optionally of one source box and/or one kind. */
export function listBaseDisks(db: Database, filter: BaseDiskFilter = {}): BaseDisk[] {
  const rows = db
    .query<JsonRow, [string | null, string | null]>(
      `SELECT id, json FROM base_disk
       WHERE (?1 IS NULL OR source_box_id = ?1) AND (?2 IS NULL OR kind = ?2)
       ORDER BY created_at DESC, rowid DESC`,
    )
    .all(filter.sourceBoxId ?? null, filter.kind ?? null);
  return readRows(rows);
}

export function deleteBaseDisk(db: Database, id: string): boolean {
  return db.query("DELETE FROM base_disk WHERE id = ?1").run(id).changes > 0;
}

/** Records that `boxId` depends on the base (idempotent). */
export function addBaseDiskRef(db: Database, baseDiskId: string, boxId: string): void {
  db.query("INSERT OR IGNORE INTO base_disk_ref (base_disk_id, box_id) VALUES (?1, ?2)").run(baseDiskId, boxId);
}

/** Drops every dependency of `boxId`; returns the bases it depended on (candidates for GC). */
export function removeBaseDiskRefs(db: Database, boxId: string): string[] {
  return db
    .transaction(() => {
      const ids = db.query<{ base_disk_id: string }, [string]>("SELECT base_disk_id FROM base_disk_ref WHERE box_id = ?1").all(boxId);
      db.query("DELETE FROM base_disk_ref WHERE box_id = ?1").run(boxId);
      return ids.map((row) => row.base_disk_id);
    })
    .immediate();
}

/** The boxes that depend on a base (empty: the base may be collected). */
export function listBaseDiskDependents(db: Database, baseDiskId: string): string[] {
  return db
    .query<{ box_id: string }, [string]>("SELECT box_id FROM base_disk_ref WHERE base_disk_id = ?1 ORDER BY box_id")
    .all(baseDiskId)
    .map((row) => row.box_id);
}
