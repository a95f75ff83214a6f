/**
 * Opening a home's database, `<home>/db/boxlite.db`: pragmas (WAL, synchronous=FULL,
 * foreign keys, a 100 s busy timeout, the reference's and Podman's values), then the
 * schema: a new home gets v9 in one transaction, v2…v8 is migrated step by step, a newer
 * schema is refused before anything is written. Then `alive` is updated for reboot
 * detection.
 *
 * The caller holds the exclusive home lock (`<home>/.lock`) for the whole call:
 * migrations move files, and the reboot signal is consumed here, to be acted on by the
 * startup recovery that follows under the same lock.
 */
import { Database, constants } from "bun:sqlite";
import { chmodSync, existsSync, mkdirSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import schemaV9 from "../../migrations/schema-v9.sql" with { type: "text" };
import { readHostBootId } from "../util/boot-id.ts";
import { BoxliteError, wrapError } from "../util/errors.ts";
import { OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, isCurrentThisBoot, readSchemaVersion, recordAlive, wasRebooted, writeSchemaVersion } from "./meta.ts";
import { ensureListingIndexes, hasListingIndexes } from "./listing-indexes.ts";
import { type MigrationHooks, finishAppliedSteps, runMigrations } from "./migrate.ts";

export interface OpenDatabaseOptions {
  /** The absolute home directory. */
  home: string;
  /** This host's boot id; read from the host when absent (tests pass their own). */
  bootId?: string;
  /**
   * Write this boot id to `alive`, consuming the reboot signal (default true). A process
   * that will not run startup recovery passes false: it still learns `hostRebooted`, and
   * the signal stays for the next process that does recover.
   */
  recordBoot?: boolean;
  hooks?: MigrationHooks;
}

export interface HomeDatabase {
  db: Database;
  path: string;
  /** The schema found at open: undefined for a new home. */
  previousVersion: number | undefined;
  /** The migration steps this open ran ("v6-to-v7" …). */
  migrated: string[];
  /** Problems in the home that did not stop the open; each names the box and the file. */
  warnings: string[];
  /** The host rebooted since the previous open (never true on the first open). */
  hostRebooted: boolean;
  close(): void;
}

export function databasePath(home: string): string {
  return join(home, "db", "boxlite.db");
}

export function openDatabase(options: OpenDatabaseOptions): HomeDatabase {
  const { home } = options;
  if (!isAbsolute(home)) throw new BoxliteError("internal", `the home ${home} must be an absolute path`);
  const path = databasePath(home);
  const isNew = !existsSync(path);
  // The database holds box options, secrets included: keep it to the user.
  mkdirSync(join(home, "db"), { recursive: true, mode: 0o700 });
  let db: Database;
  try {
    db = new Database(path, { create: true, strict: true });
  } catch (error) {
    throw wrapError("database", `cannot open the database ${path}`, error);
  }
  try {
    if (isNew) chmodSync(path, 0o600);
    return initialize(db, path, options);
  } catch (error) {
    db.close();
    throw wrapError("database", `cannot open the database ${path}`, error);
  }
}

/**
 * Opens a home whose database is already at the current schema and has seen this host
 * boot, or returns undefined: such an open writes nothing, so it needs no home lock
 * (readers like `ls` skip the lock this way). Anything else goes through openDatabase.
 */
export function openCurrentDatabase(home: string): HomeDatabase | undefined {
  const path = databasePath(home);
  if (!existsSync(path)) return undefined;
  let db: Database;
  try {
    db = new Database(path, { strict: true });
  } catch {
    return undefined;
  }
  try {
    db.run("PRAGMA busy_timeout = 100000");
    if (!isCurrentThisBoot(db, readHostBootId()) || !hasListingIndexes(db)) {
      db.close();
      return undefined;
    }
    keepWalFiles(db);
    db.run("PRAGMA synchronous = FULL");
    db.run("PRAGMA foreign_keys = ON");
    return { db, path, previousVersion: SCHEMA_VERSION, migrated: [], warnings: [], hostRebooted: false, close: () => db.close() };
  } catch (error) {
    db.close();
    throw wrapError("database", `cannot open the database ${path}`, error);
  }
}

function initialize(db: Database, path: string, options: OpenDatabaseOptions): HomeDatabase {
  // Connection settings only: nothing is written before the version check.
  db.run("PRAGMA busy_timeout = 100000");
  const version = readSchemaVersion(db);
  checkVersion(version, path);
  keepWalFiles(db);
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = FULL");
  db.run("PRAGMA foreign_keys = ON");

  const warnings: string[] = [];
  let migrated: string[] = [];
  if (version === undefined) {
    createSchema(db);
  } else if (version < SCHEMA_VERSION) {
    const result = runMigrations(db, options.home, version, options.hooks);
    migrated = result.steps;
    warnings.push(...result.warnings);
  }
  warnings.push(...finishAppliedSteps(db, options.home, SCHEMA_VERSION));
  ensureListingIndexes(db);
  const bootId = options.bootId ?? readHostBootId();
  const hostRebooted = options.recordBoot === false ? wasRebooted(db, bootId) : recordAlive(db, bootId);
  return { db, path, previousVersion: version, migrated, warnings, hostRebooted, close: () => db.close() };
}

/**
 * Keep the -wal and -shm files when the last connection closes, the WAL emptied to zero
 * bytes (what a non-negative journal_size_limit asks at that close): every command opens
 * the database, and creating and deleting both files each time cost ~0.4 ms of a short
 * `ls`. The limit also bounds the WAL a long-running `serve` keeps between checkpoints.
 * Set only once the schema is known to be ours: a refused home is left as it was.
 */
function keepWalFiles(db: Database): void {
  db.fileControl(constants.SQLITE_FCNTL_PERSIST_WAL, 1);
  db.run("PRAGMA journal_size_limit = 4194304");
}

function checkVersion(version: number | undefined, path: string): void {
  if (version === undefined) return;
  if (version > SCHEMA_VERSION) {
    throw new BoxliteError(
      "database",
      `this home was written by a newer boxlite (schema v${version}; this boxlite reads v${SCHEMA_VERSION}); upgrade boxlite. ${path} was not changed`,
    );
  }
  if (version < OLDEST_SCHEMA_VERSION) {
    throw new BoxliteError("database", `${path} has schema v${version}, older than any boxlite release (v${OLDEST_SCHEMA_VERSION}); it cannot be migrated`);
  }
}

/** The whole v9 schema and its version row, in one transaction: a crash leaves no half-made schema. */
function createSchema(db: Database): void {
  db.transaction(() => {
    // Another process may have created it between our check and this lock.
    if (readSchemaVersion(db) !== undefined) return;
    db.run(schemaV9);
    writeSchemaVersion(db, SCHEMA_VERSION);
  }).immediate();
}
