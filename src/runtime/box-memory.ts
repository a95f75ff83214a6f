/**
 * A suspended box's saved state (docs/suspend.md): `boxes/<id>/memory/` holds `state` (the
 * VMM's whole state, RAM included) and `manifest.json` (its SHA-256 and size, what VM it
 * needs, the main command's stream, when it was saved). It is written in
 * `memory.tmp-<pid>-<random>/`, fsynced, and renamed into place whole; it is discarded by
 * renaming it away first. So a state half written, or half removed, is never loaded.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { crashPoint } from "../config/crash.ts";
import { fsyncPath } from "../db/files.ts";
import { BoxliteError } from "../util/errors.ts";
import { discardDir, discardDirInBackground, sha256File, sweepDeadLeftovers } from "../util/fs.ts";
import { sha256FileInThread } from "../util/hash-thread.ts";
import type { VmIdentity } from "../vmm/backend.ts";

const MEMORY_FORMAT = 1;
/** A hostname the guest takes (boxHostname makes them; an archive's is untrusted). */
const HOSTNAME = /^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/;

/** The box's main command as the guest knows it: the stream the resumed owner adopts. */
export interface SavedMain {
  stream: number;
  pid: number;
}

export interface MemoryManifest {
  format: number;
  /** The backend that saved it ("qemu"). */
  vmm: string;
  state_sha256: string;
  state_bytes: number;
  /** What the VM that loads it must be (VmControl.saveState). */
  vm: VmIdentity;
  main: SavedMain;
  /** The guest's hostname: a resume configures it again (absent in states saved before it was kept: the box's own). */
  hostname?: string;
  created_at: string;
}

/** A box's saved state, found whole. */
export interface SavedMemory {
  dir: string;
  statePath: string;
  manifest: MemoryManifest;
}

export function memoryDir(boxDir: string): string {
  return join(boxDir, "memory");
}

/** Whether the box in `boxDir` is suspended: it has a whole saved state (cheap: one stat, for `ls`). */
export function isSuspended(boxDir: string): boolean {
  return existsSync(join(memoryDir(boxDir), "manifest.json"));
}

/**
 * Publishes a saved state in the box's directory: `fill` writes `state` into the temporary
 * directory it is given and says its manifest. Nothing is left behind on failure; the state
 * is the box's only once renamed into place.
 */
async function publishMemory(boxDir: string, fill: (tmp: string) => Promise<MemoryManifest>): Promise<MemoryManifest> {
  sweepDeadLeftovers(boxDir);
  const dest = memoryDir(boxDir);
  if (existsSync(dest)) throw new BoxliteError("conflict", `${dest} already holds a saved state`);
  const tmp = `${dest}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  // The state holds the guest's memory, secrets included: only the home's owner may read it.
  mkdirSync(tmp, { mode: 0o700 });
  try {
    const manifest = await fill(tmp);
    writeFileSync(join(tmp, "manifest.json"), `${JSON.stringify(manifest, null, 2)}\n`);
    fsyncPath(join(tmp, "manifest.json"));
    fsyncPath(tmp);
    renameSync(tmp, dest);
    fsyncPath(boxDir);
    return manifest;
  } catch (error) {
    discardDir(tmp);
    throw error;
  }
}

/** Saves a state into the box's directory: `save` writes the VMM's state to the path it is given and says what the manifest records of the VM. */
export function saveMemory(
  config: Config,
  boxDir: string,
  save: (statePath: string) => Promise<Pick<MemoryManifest, "vmm" | "vm" | "main" | "hostname">>,
): Promise<MemoryManifest> {
  return publishMemory(boxDir, async (tmp) => {
    const statePath = join(tmp, "state");
    const facts = await save(statePath);
    fsyncPath(statePath);
    crashPoint(config, "suspend-state-written");
    return {
      format: MEMORY_FORMAT,
      ...facts,
      state_sha256: await sha256File(statePath),
      state_bytes: statSync(statePath).size,
      created_at: new Date().toISOString(),
    };
  });
}

/** Makes an imported state the box's (docs/suspend.md "Moving a suspended box"): `statePath` is moved in, its size and checksum already checked. */
export function placeMemory(boxDir: string, statePath: string, manifest: MemoryManifest): Promise<MemoryManifest> {
  return publishMemory(boxDir, async (tmp) => {
    renameSync(statePath, join(tmp, "state"));
    return manifest;
  });
}

/** An untrusted manifest (a box directory's, an archive's) as a MemoryManifest, or why it is not one. */
export function parseMemoryManifest(value: unknown): MemoryManifest {
  const manifest = value as Partial<MemoryManifest> | null;
  const valid =
    typeof manifest === "object" &&
    manifest !== null &&
    manifest.format === MEMORY_FORMAT &&
    typeof manifest.vmm === "string" &&
    typeof manifest.state_sha256 === "string" &&
    /^[0-9a-f]{64}$/.test(manifest.state_sha256) &&
    Number.isSafeInteger(manifest.state_bytes) &&
    typeof manifest.vm === "object" &&
    manifest.vm !== null &&
    Number.isSafeInteger(manifest.main?.stream) &&
    Number.isSafeInteger(manifest.main?.pid) &&
    (manifest.hostname === undefined || (typeof manifest.hostname === "string" && HOSTNAME.test(manifest.hostname))) &&
    typeof manifest.created_at === "string";
  if (!valid) throw new BoxliteError("vmm_failed", `the box's saved state is of an unknown format (${String(manifest?.format)})`);
  return manifest as MemoryManifest;
}

/** The box's saved state when it has one (leftovers of dead processes swept first); a damaged manifest is reported, not ignored. */
export function findMemory(boxDir: string): SavedMemory | undefined {
  if (existsSync(boxDir)) sweepDeadLeftovers(boxDir);
  const dir = memoryDir(boxDir);
  if (!isSuspended(boxDir)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
  } catch (error) {
    throw new BoxliteError("vmm_failed", `the box's saved state has an unreadable manifest: ${String(error)}`);
  }
  return { dir, statePath: join(dir, "state"), manifest: parseMemoryManifest(parsed) };
}

/** Refuses a saved state whose file is not the one saved (size and SHA-256). */
export async function checkMemory(saved: SavedMemory): Promise<void> {
  let size: number;
  try {
    size = statSync(saved.statePath).size;
  } catch (error) {
    throw new BoxliteError("vmm_failed", `the box's saved state cannot be read: ${String(error)}`);
  }
  if (size !== saved.manifest.state_bytes || (await sha256FileInThread(saved.statePath)) !== saved.manifest.state_sha256)
    throw new BoxliteError("vmm_failed", "the box's saved state does not match its checksum");
}

/** Forgets the box's saved state (the box boots from its disk next time). */
export function discardMemory(boxDir: string): void {
  discardDir(memoryDir(boxDir));
}

/**
 * Forgets the saved state of a box about to run from it: gone at once, so it is never loaded
 * again, and removed off this thread, so that the VM does not wait on it (docs/suspend.md).
 */
export function consumeMemory(boxDir: string): void {
  discardDirInBackground(memoryDir(boxDir));
}
