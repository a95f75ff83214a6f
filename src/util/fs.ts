/** Small filesystem helpers shared by the caches: atomic publication and existence checks. */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { procStatFields } from "./proc.ts";

/**
 * Writes a file through a temporary sibling and renames it into place, so a reader
 * never sees a half-written file presented as good (the rename is atomic on one filesystem).
 */
export async function publishFile(path: string, produce: (tmpPath: string) => Promise<void> | void): Promise<void> {
  const tmp = tmpSibling(path);
  try {
    await produce(tmp);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true, recursive: true });
    throw error;
  }
}

/** Returns the cached file, building it first when missing. Concurrent builders are safe: the last rename wins, both are whole. */
export async function cachedFile(path: string, build: (tmpPath: string) => Promise<void> | void): Promise<string> {
  if (existsSync(path)) return path;
  await publishFile(path, build);
  return path;
}

/** cachedFile for a caller that cannot wait (a library loaded by a synchronous call). */
export function cachedFileSync(path: string, build: (tmpPath: string) => void): string {
  if (existsSync(path)) return path;
  const tmp = tmpSibling(path);
  try {
    build(tmp);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true, recursive: true });
    throw error;
  }
  return path;
}

/** Where `path` is written before it is renamed into place (its directory made): unique per process and call. */
function tmpSibling(path: string): string {
  mkdirSync(dirname(path), { recursive: true });
  return `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
}

export function sha256Hex(bytes: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** The SHA-256 of a file, read as a stream (a suspended box's state is tens or hundreds of MB). */
export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/**
 * The SHA-256 (hex) of a file written once and never changed in place (a cached kernel, the
 * system disk), kept beside it in `<path>.sha256` with the inode, size and mtime it is for: hashing
 * a 20 MB kernel on every suspend and resume would cost tens of milliseconds.
 */
export function cachedSha256(path: string): string {
  const { ino, size, mtimeMs } = statSync(path);
  const stamp = `${ino}:${size}:${mtimeMs}`;
  const sidecar = `${path}.sha256`;
  try {
    const [hash = "", recorded] = readFileSync(sidecar, "utf8").trim().split(" ");
    if (recorded === stamp && /^[0-9a-f]{64}$/.test(hash)) return hash;
  } catch {
    // Not computed yet (or unreadable): computed now.
  }
  const hash = sha256Hex(readFileSync(path));
  const tmp = `${sidecar}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  writeFileSync(tmp, `${hash} ${stamp}\n`);
  renameSync(tmp, sidecar);
  return hash;
}

/** Renames `dir` away (`<dir>.discarded-…`), gone for every reader at once; its new name, or undefined when it was already gone. */
function setAside(dir: string): string | undefined {
  const gone = `${dir}.discarded-${process.pid}-${Date.now()}`;
  try {
    renameSync(dir, gone);
  } catch {
    return undefined; // another process discarded it first, or there was none
  }
  return gone;
}

/**
 * Removes a directory that must never be used again: renamed away first (`<dir>.discarded-…`),
 * so no other process picks it up while it is being removed. False when it was already gone.
 */
export function discardDir(dir: string): boolean {
  const gone = setAside(dir);
  if (gone !== undefined) rmSync(gone, { recursive: true, force: true });
  return gone !== undefined;
}

/**
 * discardDir for a caller that must not wait for the removal (tens of MB take 10–20 ms to
 * remove): the rename is done when this returns, the removal goes on off this thread. One cut
 * short by this process's end is swept like a dead process's `.discarded-` leftovers.
 */
export function discardDirInBackground(dir: string): void {
  const gone = setAside(dir);
  if (gone !== undefined) void rm(gone, { recursive: true, force: true }).catch(() => {});
}

/** Removes what processes that are gone left in `root` (`.tmp-<pid>-` builds, `.discarded-<pid>-` removals killed midway). */
export function sweepDeadLeftovers(root: string): void {
  for (const name of readdirSync(root)) {
    const match = /\.tmp-(\d+)-|\.discarded-(\d+)-/.exec(name);
    const pid = Number(match?.[1] ?? match?.[2]);
    if (!match || pid === process.pid) continue;
    // A zombie (killed, not yet reaped: a container's init may never reap it) is gone too.
    const state = procStatFields(pid)?.[0];
    if (state === undefined || state === "Z") rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** The last `count` lines of a text file (trailing blank lines dropped), or undefined when it cannot be read. */
export function fileTail(path: string, count: number): string | undefined {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-count).join("\n");
  } catch {
    return undefined;
  }
}
