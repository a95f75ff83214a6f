/**
 * The single-row tables: `schema_version` (which schema the home is at) and `alive`
 * (the host boot id at the last open, for reboot detection).
 */
import type { Database } from "bun:sqlite";

/** The schema this version of boxlite reads and writes (the reference's v9). */
export const SCHEMA_VERSION = 9;
/** The oldest schema the migration chain starts from (there never was a v1 → v2 step). */
export const OLDEST_SCHEMA_VERSION = 2;

interface VersionRow {
  version: number;
}

/** The recorded schema version, or undefined for a home with no schema yet. */
export function readSchemaVersion(db: Database): number | undefined {
  const table = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").get();
  if (table === null) return undefined;
  const row = db.query<VersionRow, []>("SELECT version FROM schema_version WHERE id = 1").get();
  return row === null ? undefined : row.version;
}

/** Records `version`; call inside the transaction that changed the schema. */
export function writeSchemaVersion(db: Database, version: number, now: Date = new Date()): void {
  db.query(
    `INSERT INTO schema_version (id, version, updated_at) VALUES (1, ?1, ?2)
     ON CONFLICT(id) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at`,
  ).run(version, now.toISOString());
}

export interface AliveRecord {
  bootId: string;
  /** Unix seconds of the open that wrote the record. */
  startedAt: number;
}

interface AliveRow {
  boot_id: string;
  started_at: number;
}

export function readAlive(db: Database): AliveRecord | undefined {
  const row = db.query<AliveRow, []>("SELECT boot_id, started_at FROM alive WHERE id = 1").get();
  return row === null ? undefined : { bootId: row.boot_id, startedAt: row.started_at };
}

/**
 * Whether the home is at the current schema and was already opened in the boot `bootId`,
 * read in one statement (a lock-free `ls` pays for every statement). A home without the
 * tables fails to prepare it: not current either.
 */
export function isCurrentThisBoot(db: Database, bootId: string): boolean {
  let row: unknown[] | undefined;
  try {
    row = db.query("SELECT (SELECT version FROM schema_version WHERE id = 1), (SELECT boot_id FROM alive WHERE id = 1)").values()[0];
  } catch {
    return false;
  }
  return row?.[0] === SCHEMA_VERSION && row[1] === bootId;
}

/** Whether `alive` holds another boot id than `bootId` (false when it holds none), without writing. */
export function wasRebooted(db: Database, bootId: string): boolean {
  const previous = readAlive(db);
  return previous !== undefined && previous.bootId !== bootId;
}

/**
 * Writes this host's boot id and says whether the host rebooted since the previous
 * record (false the very first time). It consumes the signal: the next call on the same
 * boot returns false, so call it once per open, under the home lock, before recovery.
 */
export function recordAlive(db: Database, bootId: string, now: Date = new Date()): boolean {
  // Most opens happen in the same host boot: read first, so they cost no write (and no fsync).
  if (readAlive(db)?.bootId === bootId) return false;
  return db
    .transaction(() => {
      const rebooted = wasRebooted(db, bootId);
      db.query(
        `INSERT INTO alive (id, boot_id, started_at) VALUES (1, ?1, ?2)
       ON CONFLICT(id) DO UPDATE SET boot_id = excluded.boot_id, started_at = excluded.started_at`,
      ).run(bootId, Math.floor(now.getTime() / 1000));
      return rebooted;
    })
    .immediate();
}
