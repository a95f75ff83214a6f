/** Small filesystem helpers shared by the caches: atomic publication and existence checks. */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { dirname } from "node:path";

/**
 * Writes a file through a temporary sibling and renames it into place, so a reader
 * never sees a half-written file presented as good (the rename is atomic on one filesystem).
 */
export async function publishFile(path: string, produce: (tmpPath: string) => Promise<void> | void): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
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

export function sha256Hex(bytes: Uint8Array | string): string {
  return new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
}

/** The last `count` lines of a text file (trailing blank lines dropped), or undefined when it cannot be read. */
export function fileTail(path: string, count: number): string | undefined {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-count).join("\n");
  } catch {
    return undefined;
  }
}
