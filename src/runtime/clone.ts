/**
 * Cloning a box (docs/snapshots.md): its live disk is forked into a clone base
 * `bases/<id>.qcow2` (a running source is paused for the fork only, and goes on in a new
 * overlay on the base), then each clone is a new stopped box with the source's options
 * whose disk is an empty overlay on that base: no data is copied. `base_disk_ref` records
 * who needs the base; it is collected when nobody does (bases.ts).
 */
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { addBaseDiskRef, type BaseDisk, insertBaseDisk, mintBaseDiskId } from "../db/bases.ts";
import { type BoxRecord, getBoxByName, insertBox, resolveExistingBox } from "../db/boxes.ts";
import { planFork } from "../disk/fork.ts";
import { createOverlay, readQcow2Info } from "../disk/qcow2.ts";
import { BoxliteError } from "../util/errors.ts";
import { decideFor } from "./box-facts.ts";
import { boxLayout } from "./box-layout.ts";
import { newBoxState } from "./box-record.ts";
import { newBoxId } from "./create.ts";
import { crashPoint } from "../config/crash.ts";
import { lockBox } from "./box-lock.ts";
import { lockDiskOps } from "./disk-op.ts";
import type { Home } from "./home.ts";
import { allocatedBytes, forkRecorded } from "./snapshots.ts";

/** More at once is a mistake more often than a need; each clone is a box record. */
export const MAX_CLONES = 100;

export interface CloneOptions {
  /** The clone's name; with count > 1, `<name>-1` … `<name>-<count>`. */
  name?: string;
  count?: number;
}

/** The clones' names: none, the one given, or `<name>-1` … `<name>-<count>`; the count is checked. */
export function cloneNames(options: CloneOptions): Array<string | null> {
  const count = options.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_CLONES) {
    throw new BoxliteError("invalid_argument", `clone count ${count} is not a whole number from 1 to ${MAX_CLONES}`);
  }
  if (options.name === undefined) return Array.from({ length: count }, () => null);
  if (count === 1) return [options.name];
  return Array.from({ length: count }, (_, i) => `${options.name}-${i + 1}`);
}

/** Inserts the base's row and the source's reference to it: its live disk now sits on it. */
export function recordCloneBase(home: Home, sourceId: string, dest: string, base: { id: string; created_at: number }): BaseDisk {
  const row: BaseDisk = {
    id: base.id,
    source_box_id: sourceId,
    name: null,
    kind: "clone_base",
    base_path: dest,
    container_disk_bytes: readQcow2Info(dest).virtualSize,
    size_bytes: allocatedBytes(dest),
    created_at: base.created_at,
  };
  const { db } = home.database;
  db.transaction(() => {
    insertBaseDisk(db, row);
    addBaseDiskRef(db, base.id, sourceId);
  }).immediate();
  return row;
}

/** Makes the clones of `source` on `base`: each a stopped box whose disk is an empty overlay on it. */
function provisionClones(home: Home, source: BoxRecord, base: BaseDisk, names: Array<string | null>): string[] {
  const { config, database } = home;
  const sourceLayout = boxLayout(config, source.id);
  const ids: string[] = [];
  for (const name of names) {
    const id = newBoxId();
    const layout = boxLayout(config, id);
    // The directory first: a crash before the record leaves an orphan directory, which
    // opening the home sweeps, never a record whose disk is missing. The new box's lock says
    // it is being made, so that no sweep takes it for an orphan meanwhile.
    using _making = lockBox(config, id, "clone");
    mkdirSync(join(layout.dir, "disks"), { recursive: true });
    mkdirSync(join(layout.dir, "logs"), { recursive: true });
    try {
      createOverlay({ path: layout.disk, backingFile: base.base_path, backingFormat: "qcow2", virtualSize: base.container_disk_bytes });
      if (existsSync(sourceLayout.imageRecord)) copyFileSync(sourceLayout.imageRecord, layout.imageRecord);
      const now = new Date().toISOString();
      const config = { ...source.config, id, name, created_at: now, container: { id: randomBytes(32).toString("hex") }, box_home: layout.dir };
      const state = { ...newBoxState("stopped"), last_updated: now };
      database.db
        .transaction(() => {
          insertBox(database.db, config, state);
          addBaseDiskRef(database.db, base.id, id);
        })
        .immediate();
    } catch (error) {
      rmSync(layout.dir, { recursive: true, force: true });
      throw error;
    }
    crashPoint(home.config, "clone-provisioned");
    ids.push(id);
  }
  return ids;
}

/** Clones a box; returns the new boxes' ids. A running source keeps running. */
export async function cloneBox(home: Home, idOrName: string, options: CloneOptions = {}): Promise<string[]> {
  const names = cloneNames(options);
  const { config, database } = home;
  const found = resolveExistingBox(database.db, idOrName);
  using _diskLock = lockDiskOps(config, found.id, "clone");
  const source = resolveExistingBox(database.db, found.id);
  // Under the disk lock: a second operation on the box is "busy", never a status it caused.
  decideFor(source, "snapshot");
  for (const name of names) {
    if (name !== null && getBoxByName(database.db, name)) throw new BoxliteError("already_exists", `a box named ${JSON.stringify(name)} already exists`);
  }
  const layout = boxLayout(config, source.id);
  const base = { id: mintBaseDiskId(), created_at: Math.floor(Date.now() / 1000) };
  const dest = join(config.home, "bases", `${base.id}.qcow2`);
  mkdirSync(join(config.home, "bases"), { recursive: true });
  const op = { container_disk: layout.disk, operation: "clone" as const, fork: planFork(layout.disk, dest), base };
  const row = await forkRecorded(home, source, op, "based", () => recordCloneBase(home, source.id, dest, base));
  return provisionClones(home, source, row, names);
}
