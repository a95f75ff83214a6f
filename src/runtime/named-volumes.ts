/**
 * Named volumes (docs/volumes.md "Named volumes"): a directory per volume under the home,
 * `volumes/named/<id>/`, holding `volume.json` (its identity) and `data/` (what a box
 * mounts). A directory without `volume.json` is a create or a removal cut short and is
 * not a volume. Creates and removals take the home's volume lock (locks/volumes.lock),
 * so two creates with one name cannot both succeed, and a removal cannot interleave
 * with the in-use check of another.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { monotonicFactory } from "ulid";
import { listBoxes } from "../db/boxes.ts";
import { BoxliteError } from "../util/errors.ts";
import { FileLock } from "../util/flock.ts";
import type { Home } from "./home.ts";

/** Monotonic within a millisecond, so "newest first" holds for volumes made back to back. */
const nextUlid = monotonicFactory();

/** What `volume.json` holds, and what the runtime answers for a volume. */
export interface VolumeRecord {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
}

/** Docker's rule for volume names (two characters at least), bounded as our box names are. */
const NAME_PATTERN = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
export const VOLUME_NAME_MAX = 64;
const LOCK_TIMEOUT_MS = 10_000;

export function namedVolumesDir(homeDir: string): string {
  return join(homeDir, "volumes", "named");
}

/** The directory a box mounts for the volume. */
export function volumeDataDir(homeDir: string, id: string): string {
  return join(namedVolumesDir(homeDir), id, "data");
}

export function checkVolumeName(name: string): void {
  if (name.length > VOLUME_NAME_MAX || !NAME_PATTERN.test(name))
    throw new BoxliteError(
      "invalid_argument",
      `invalid volume name ${JSON.stringify(name.slice(0, 100))}: use 2 to ${VOLUME_NAME_MAX} letters, digits, '_', '.' or '-', starting with a letter or digit`,
    );
}

/** Creates and removals of volumes, and box creates that mount one, hold it: one at a time. */
export function lockVolumes(homeDir: string, operation: string): Promise<FileLock> {
  mkdirSync(join(homeDir, "locks"), { recursive: true });
  return FileLock.acquire(join(homeDir, "locks", "volumes.lock"), operation, LOCK_TIMEOUT_MS);
}

function readRecord(dir: string): VolumeRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(join(dir, "volume.json"), "utf8")) as VolumeRecord;
    return typeof record.id === "string" && typeof record.name === "string" ? record : undefined;
  } catch {
    return undefined;
  }
}

/** Every volume, newest first (ids are ULIDs, so their order is their creation order). */
export function listVolumes(homeDir: string): VolumeRecord[] {
  const root = namedVolumesDir(homeDir);
  if (!existsSync(root)) return [];
  const records: VolumeRecord[] = [];
  for (const entry of readdirSync(root)) {
    const record = readRecord(join(root, entry));
    if (record && record.id === entry) records.push(record);
  }
  return records.sort((a, b) => b.created_at.localeCompare(a.created_at) || b.id.localeCompare(a.id));
}

/** A volume by id, name or unique id prefix, as boxes are found. */
export function getVolume(homeDir: string, ref: string): VolumeRecord {
  const volumes = listVolumes(homeDir);
  const exact = volumes.find((volume) => volume.id === ref) ?? volumes.find((volume) => volume.name === ref);
  if (exact) return exact;
  const prefixed = ref === "" ? [] : volumes.filter((volume) => volume.id.startsWith(ref));
  if (prefixed.length === 1) return prefixed[0] as VolumeRecord;
  const shown = JSON.stringify(ref.slice(0, 200));
  if (prefixed.length > 1) throw new BoxliteError("invalid_argument", `volume ${shown} matches ${prefixed.length} volumes by id prefix; give more of the id`);
  throw new BoxliteError("not_found", `no such volume: ${shown}; 'boxlite volume ls' lists them`);
}

/** Creates a volume; a name left out is the volume's id (the contract requires a name). */
export async function createVolume(homeDir: string, options: { name?: string } = {}): Promise<VolumeRecord> {
  if (options.name !== undefined) checkVolumeName(options.name);
  using _lock = await lockVolumes(homeDir, "create volume");
  if (options.name !== undefined && listVolumes(homeDir).some((volume) => volume.name === options.name || volume.id === options.name))
    throw new BoxliteError("already_exists", `a volume named ${JSON.stringify(options.name)} already exists`);
  const id = nextUlid().toLowerCase();
  const now = new Date().toISOString();
  const record: VolumeRecord = { id, name: options.name ?? id, created_at: now, updated_at: now };
  const dir = join(namedVolumesDir(homeDir), id);
  mkdirSync(join(dir, "data"), { recursive: true, mode: 0o755 });
  writeRecord(dir, record);
  return record;
}

function writeRecord(dir: string, record: VolumeRecord): void {
  const tmp = join(dir, `volume.json.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o644 });
  renameSync(tmp, join(dir, "volume.json"));
}

/** Ids of the boxes whose options mount the volume (entries `{..., volume: "<id>"}` of `options.volumes`). */
export function volumeInUse(home: Home, id: string): string[] {
  return listBoxes(home.database.db)
    .filter((box) => {
      const volumes = box.config.options.volumes;
      return Array.isArray(volumes) && volumes.some((entry) => typeof entry === "object" && entry !== null && !Array.isArray(entry) && entry.volume === id);
    })
    .map((box) => box.id);
}

export interface RemoveVolumeOptions {
  /** Removes a volume in use too, and takes a missing one as removed. */
  force?: boolean;
  /** The boxes that use a volume (volumeInUse over the home's database). */
  usedBy: (id: string) => string[];
}

/** Removes a volume and its data; returns its id, or undefined when forced and there was none. */
export async function removeVolume(homeDir: string, ref: string, options: RemoveVolumeOptions): Promise<string | undefined> {
  using _lock = await lockVolumes(homeDir, "remove volume");
  let volume: VolumeRecord;
  try {
    volume = getVolume(homeDir, ref);
  } catch (error) {
    if (options.force && error instanceof BoxliteError && error.code === "not_found") return undefined;
    throw error;
  }
  const users = options.usedBy(volume.id);
  if (users.length > 0 && !options.force)
    throw new BoxliteError(
      "conflict",
      `volume ${volume.name} is in use by ${users.length === 1 ? "box" : "boxes"} ${users.join(", ")}; remove ${users.length === 1 ? "it" : "them"} first, or force the removal`,
    );
  const dir = join(namedVolumesDir(homeDir), volume.id);
  // volume.json first: the volume is gone at once, whatever the size of its data.
  rmSync(join(dir, "volume.json"), { force: true });
  rmSync(dir, { recursive: true, force: true });
  return volume.id;
}
