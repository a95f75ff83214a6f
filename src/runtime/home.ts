/**
 * Opening a home: its directories (the reference layout), then, under a short exclusive
 * lock on `.lock`, its database (created or migrated) and the reboot check. A home that
 * needs none of that (the usual case) is opened without the lock. Any number
 * of processes may then use the home at once: readers never wait (WAL), and each box
 * has its own lock (box-lock.ts).
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { CLAIMS_VM } from "../model/box-state.ts";
import { listBoxes, listBoxIds, updateBoxState } from "../db/boxes.ts";
import { type HomeDatabase, openCurrentDatabase, openDatabase } from "../db/database.ts";
import { setLibraryDir } from "../disk/ffi.ts";
import { optionsFromRecord } from "../model/codec.ts";
import { FileLock } from "../util/flock.ts";
import { startTimeOf } from "../util/proc.ts";
import { removeBoxLock, tryLockBox } from "./box-lock.ts";
import { discardBox } from "./discard.ts";
import { recoverDiskOps } from "./disk-recovery.ts";

/** Migration of a big old home can take a while; a stuck holder is reported, not waited on forever. */
const HOME_LOCK_TIMEOUT_MS = 60_000;
const SUBDIRS = ["db", "images", "bases", "boxes", "locks", "tmp"];

export interface Home {
  config: Readonly<Config>;
  database: HomeDatabase;
  /**
   * Boxes created with detach: false that this process starts are stopped when it exits
   * (the reference's non-detached boxes): true for a server and a library, false for the
   * CLI, whose `start` must outlive the command.
   */
  ownsUndetached: boolean;
  /** Problems found while opening (each names a box and a file). */
  warnings: string[];
  close(): void;
}

/**
 * Box directories without a record (a removal killed between its two steps, a clone or
 * import killed before its record) and socket links to box directories that are gone.
 * create.ts writes a box's record before its directory; clone.ts and import.ts write the
 * directory (with its disk) first, holding the new box's lock until its record is in: a
 * directory whose lock is free has nobody making it.
 */
function sweepOrphans(config: Readonly<Config>, ids: Set<string>): void {
  const boxesDir = join(config.home, "boxes");
  for (const id of existsSync(boxesDir) ? readdirSync(boxesDir) : []) {
    if (ids.has(id) || !statSync(join(boxesDir, id), { throwIfNoEntry: false })?.isDirectory()) continue;
    const lock = tryLockBox(config, id, "sweep an orphan");
    if (!(lock instanceof FileLock)) continue; // being made, or removed, right now
    try {
      rmSync(join(boxesDir, id), { recursive: true, force: true });
      removeBoxLock(config, id);
    } finally {
      lock.release();
    }
  }
  for (const link of existsSync(config.socketDir) ? readdirSync(config.socketDir) : []) {
    const path = join(config.socketDir, link);
    // Links of other homes share this directory: only dangling ones go.
    if (!existsSync(path)) rmSync(path, { force: true });
  }
}

/** Staging directories `tmp/<what>-<pid>-<random>` (export, import, uploads) whose process is gone. */
function sweepStaleStaging(config: Readonly<Config>): void {
  const tmp = join(config.home, "tmp");
  for (const name of existsSync(tmp) ? readdirSync(tmp) : []) {
    const pid = Number(/^[a-z]+-(\d+)-/.exec(name)?.[1]);
    if (pid > 0 && startTimeOf(pid) === undefined) rmSync(join(tmp, name), { recursive: true, force: true });
  }
}

/** Snapshots and clones a crash interrupted are finished or undone, and dead processes' staging goes (two small readdirs). */
function withRecovery(home: Home): Home {
  home.warnings.push(...recoverDiskOps(home));
  sweepStaleStaging(home.config);
  // A clone or import that crashed between its directory and its record left an orphan.
  sweepOrphans(home.config, new Set(listBoxIds(home.database.db)));
  return home;
}

export async function openHome(config: Readonly<Config>, ownsUndetached = false): Promise<Home> {
  setLibraryDir(join(config.runtimeDir, "lib"));
  // The common case (current schema, same host boot) writes nothing and takes no lock.
  const current = openCurrentDatabase(config.home);
  if (current) return withRecovery({ config, database: current, ownsUndetached, warnings: [], close: () => current.close() });
  mkdirSync(config.home, { recursive: true, mode: 0o700 });
  for (const sub of SUBDIRS) mkdirSync(join(config.home, sub), { recursive: true });
  using _lock = await FileLock.acquire(join(config.home, ".lock"), "open home", HOME_LOCK_TIMEOUT_MS);
  const database = openDatabase({ home: config.home });
  if (database.hostRebooted) {
    // Every VM died with the host: boxes that were running are stopped now, and those that
    // go when they stop (--rm, auto_delete) are gone, as the reference's recovery does.
    for (const box of listBoxes(database.db)) {
      if (!CLAIMS_VM.has(box.status)) continue;
      if (optionsFromRecord(box.config).autoRemove === true) discardBox(config, database, box.id);
      else updateBoxState(database.db, box.id, { status: "stopped", pid: null });
    }
  }
  return withRecovery({ config, database, ownsUndetached, warnings: database.warnings, close: () => database.close() });
}
