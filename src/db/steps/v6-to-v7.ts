/**
 * v6 → v7 (reference v6_to_v7.rs): disks move into `disks/`, per-box `rootfs-base`
 * files become shared `bases/<id>.ext4` with `base_disk` rows, and `box_snapshot` rows
 * become JSON rows of `snapshot`.
 *
 * Crash safety: the new base ids are chosen once and written to a journal
 * (`db/migrate-v6-to-v7.json`) before any file moves, so a rerun reuses them instead of
 * minting a second id for the same file. Every file operation checks what is already
 * done. The rows are written from the journal and the files as they finally are, in the
 * step's transaction; the journal is removed after the commit.
 */
import type { Database } from "bun:sqlite";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import v6to7Sql from "../../../migrations/v6-to-v7.sql" with { type: "text" };
import { BoxliteError } from "../../util/errors.ts";
import { mintBaseDiskId } from "../bases.ts";
import { moveFile, writeFileDurable } from "../files.ts";
import { isJsonObject } from "../json.ts";
import type { MigrationContext, MigrationStep } from "../migrate.ts";
import { recoverPendingSnapshot } from "./pending-snapshot.ts";
import { checkBackingChain, moveRootfsBase, rebaseGuestDisk } from "./rootfs-base.ts";

const NAME = "v6-to-v7";
/** Where a v6 box kept its rootfs-base, relative to the box directory, in search order. */
const BASE_SOURCES = ["rootfs-base", join("disks", "rootfs-base")];
const DISK_FILES = ["disk.qcow2", "guest-rootfs.qcow2"];

interface PlannedBase {
  id: string;
  /** Relative to the box directory: one of BASE_SOURCES, chosen once. */
  source: string;
  /** Unix seconds, fixed at planning so a rerun writes the same row. */
  created_at: number;
}

interface Journal {
  bases: Record<string, PlannedBase>;
}

export const v6ToV7: MigrationStep = {
  from: 6,
  name: NAME,
  prepare(context) {
    const { home } = context;
    const at = (name: string) => context.point(`${NAME}:${name}`);
    const sub = { warn: context.warn, point: at };
    mkdirSync(join(home, "bases"), { recursive: true });
    const boxIds = listBoxDirs(join(home, "boxes"));
    const journal = planBases(context, boxIds);
    const recorded = recordedSnapshotDirs(context.db);
    for (const boxId of boxIds) {
      const boxDir = join(home, "boxes", boxId);
      recoverPendingSnapshot(boxDir, boxId, { ...sub, isRecordedSnapshotDir: (dir) => recorded.has(resolve(dir)) });
      const disksDir = join(boxDir, "disks");
      mkdirSync(disksDir, { recursive: true });
      for (const file of DISK_FILES) {
        if (existsSync(join(boxDir, file))) moveFile(join(boxDir, file), join(disksDir, file));
      }
      at(`box:${boxId}:disks-moved`);
      const guestDisk = join(disksDir, "guest-rootfs.qcow2");
      const planned = journal.bases[boxId];
      if (planned === undefined) {
        if (existsSync(guestDisk)) checkBackingChain(boxId, guestDisk, sub);
        continue;
      }
      const dest = basePath(home, planned);
      moveRootfsBase(boxId, join(boxDir, planned.source), dest, sub);
      at(`box:${boxId}:base-moved`);
      if (existsSync(dest)) rebaseGuestDisk(boxId, guestDisk, dest, sub);
      at(`box:${boxId}:rebased`);
    }
  },
  apply(context) {
    const { db, home } = context;
    db.run(v6to7Sql);
    copySnapshots(db);
    db.run("DROP TABLE IF EXISTS box_snapshot");
    const insert = db.query(
      `INSERT INTO base_disk (id, source_box_id, name, kind, base_path, created_at, json)
       VALUES (?1, ?2, NULL, 'rootfs', ?3, ?4, ?5)`,
    );
    const journal = loadJournal(journalPath(home));
    for (const [boxId, planned] of Object.entries(journal.bases).sort(([a], [b]) => (a < b ? -1 : 1))) {
      const dest = basePath(home, planned);
      if (!existsSync(dest)) continue; // warned about during prepare
      const size = statSync(dest).size;
      const json = {
        id: planned.id,
        source_box_id: boxId,
        kind: "rootfs",
        base_path: dest,
        container_disk_bytes: size,
        size_bytes: size,
        created_at: planned.created_at,
      };
      insert.run(planned.id, boxId, dest, planned.created_at, JSON.stringify(json));
    }
  },
  finish(context) {
    rmSync(journalPath(context.home), { force: true });
  },
};

function journalPath(home: string): string {
  return join(home, "db", `migrate-${NAME}.json`);
}

function basePath(home: string, planned: PlannedBase): string {
  return join(home, "bases", `${planned.id}.ext4`);
}

/** Box directories (not symlinks: a link could lead the moves outside the home). */
function listBoxDirs(boxesDir: string): string[] {
  if (!existsSync(boxesDir)) return [];
  return readdirSync(boxesDir)
    .filter((name) => lstatSync(join(boxesDir, name)).isDirectory())
    .sort();
}

/** Gives every box with a rootfs-base its base id, once; the journal makes it stick. */
function planBases(context: MigrationContext, boxIds: string[]): Journal {
  const path = journalPath(context.home);
  const journal = loadJournal(path);
  const taken = new Set(Object.values(journal.bases).map((planned) => planned.id));
  let changed = false;
  for (const boxId of boxIds) {
    if (journal.bases[boxId] !== undefined) continue;
    const source = BASE_SOURCES.find((candidate) => existsSync(join(context.home, "boxes", boxId, candidate)));
    if (source === undefined) continue;
    let id = mintBaseDiskId();
    while (taken.has(id) || existsSync(join(context.home, "bases", `${id}.ext4`))) id = mintBaseDiskId();
    taken.add(id);
    journal.bases[boxId] = { id, source, created_at: Math.floor(context.now().getTime() / 1000) };
    changed = true;
  }
  if (changed) {
    writeFileDurable(path, `${JSON.stringify(journal, null, 2)}\n`);
    context.point(`${NAME}:journal-written`);
  }
  return journal;
}

function loadJournal(path: string): Journal {
  if (!existsSync(path)) return { bases: {} };
  const damaged = (why: string) =>
    new BoxliteError("database", `${path} is damaged (${why}); it records where rootfs-base files were moved, so restore it rather than delete it`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw damaged(error instanceof Error ? error.message : String(error));
  }
  if (!isJsonObject(value) || !isJsonObject(value.bases)) throw damaged("no bases object");
  const bases: Record<string, PlannedBase> = {};
  for (const [boxId, entry] of Object.entries(value.bases)) {
    if (!isJsonObject(entry)) throw damaged(`bad entry for box ${boxId}`);
    const { id, source, created_at } = entry;
    const valid =
      typeof id === "string" && /^[0-9A-Za-z]{8}$/.test(id) && typeof source === "string" && BASE_SOURCES.includes(source) && typeof created_at === "number";
    if (!valid) throw damaged(`bad entry for box ${boxId}`);
    bases[boxId] = { id, source, created_at };
  }
  return { bases };
}

function tableExists(db: Database, name: string): boolean {
  return db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1").get(name) !== null;
}

function recordedSnapshotDirs(db: Database): Set<string> {
  if (!tableExists(db, "box_snapshot")) return new Set();
  const rows = db.query<{ snapshot_dir: string }, []>("SELECT snapshot_dir FROM box_snapshot").all();
  return new Set(rows.map((row) => resolve(row.snapshot_dir)));
}

interface BoxSnapshotRow {
  id: string;
  box_id: string;
  name: string;
  created_at: number;
  snapshot_dir: string;
  container_disk_bytes: number;
  size_bytes: number;
}

/** box_snapshot rows → snapshot rows holding SnapshotInfo JSON (disk_info flattened, as serde writes it). */
function copySnapshots(db: Database): void {
  if (!tableExists(db, "box_snapshot")) return; // a home that never had snapshots
  const rows = db
    .query<BoxSnapshotRow, []>("SELECT id, box_id, name, created_at, snapshot_dir, container_disk_bytes, size_bytes FROM box_snapshot ORDER BY rowid")
    .all();
  const insert = db.query("INSERT INTO snapshot (id, box_id, name, created_at, json) VALUES (?1, ?2, ?3, ?4, ?5)");
  for (const row of rows) {
    const json = {
      id: row.id,
      box_id: row.box_id,
      name: row.name,
      created_at: row.created_at,
      base_path: row.snapshot_dir,
      container_disk_bytes: row.container_disk_bytes,
      size_bytes: row.size_bytes,
    };
    insert.run(row.id, row.box_id, row.name, row.created_at, JSON.stringify(json));
  }
}
