/**
 * Writes a `.boxlite` archive: manifest.json, disk.qcow2 and guest-rootfs.qcow2 in a
 * zstd-compressed tar, built in a temporary sibling of the destination, fsynced and renamed
 * into place, so `dest` is either absent or whole. A writer killed midway leaves its temporary
 * file behind; the next write into that directory sweeps it (see `sweepStaleTemps`).
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync } from "node:fs";
import { open } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { BoxliteError, wrapError } from "../util/errors.ts";
import {
  CONTAINER_DISK_ENTRY,
  GUEST_DISK_ENTRY,
  MANIFEST_ENTRY,
  type ArchiveManifest,
  archiveVersionFor,
  formatExportedAt,
  serializeManifest,
} from "./archive-manifest.ts";
import { fileHeader, TAR_END, tarPadding } from "./archive-tar.ts";
import { compressInto } from "./archive-zstd.ts";

/** Test hooks: `point` runs at each named step ("hashed", "temp-created", "entry:disk.qcow2", "compressed", "synced", "renamed"); throwing or dying there simulates a crash. */
export interface ArchiveHooks {
  point?(name: string): void;
}

export interface WriteArchiveOptions {
  /** The archive to create; replaced if it exists. */
  dest: string;
  boxName?: string | null;
  image: string;
  /** The box's options, stored as given (v3+). */
  boxOptions?: Record<string, unknown>;
  /** Whether the options carry a capability policy (v4) or ports (v5). */
  hasCapabilityPolicy?: boolean;
  hasPorts?: boolean;
  /** Flattened, standalone qcow2 disks. */
  disks: { container: string; guest: string };
  now?: Date;
  hooks?: ArchiveHooks;
}

export interface WriteArchiveResult {
  path: string;
  manifest: ArchiveManifest;
  /** Size of the archive file. */
  bytes: number;
}

const CHUNK = 1024 * 1024;

/** `<dest name>.tmp-<pid>-<12 hex>`: the pid tells a sweeper whether its writer still lives. */
const TEMP_NAME = /^(.+)\.tmp-(\d+)-[0-9a-f]{12}$/;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the temporary files that dead writers left next to `dest`: those of `dest` itself
 * and of any `*.boxlite` in the same directory. A live writer's file is left alone.
 */
export function sweepStaleTemps(dest: string): string[] {
  const dir = dirname(dest);
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    const match = TEMP_NAME.exec(name);
    if (match === null) continue;
    const [, target = "", pid = "0"] = match;
    if (target !== basename(dest) && !target.endsWith(".boxlite")) continue;
    if (isAlive(Number(pid))) continue; // Our own pid too: another export of this process may be writing it.
    rmSync(join(dir, name), { force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/** Reads `size` bytes of `path` in chunks; one buffer is reused, so a consumer must be done with a chunk before asking for the next. */
async function* readExactly(path: string, size: number): AsyncGenerator<Uint8Array> {
  const handle = await open(path, "r");
  try {
    const buffer = Buffer.allocUnsafe(CHUNK);
    let left = size;
    while (left > 0) {
      const { bytesRead } = await handle.read(buffer, 0, Math.min(CHUNK, left), null);
      if (bytesRead === 0) throw new BoxliteError("disk", `cannot archive ${path}: it shrank from ${size} bytes while being written`);
      left -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await handle.close();
  }
}

async function sha256File(path: string, size: number): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of readExactly(path, size)) hasher.update(chunk);
  return `sha256:${hasher.digest("hex")}`;
}

function diskSize(path: string, role: string): number {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new BoxliteError("invalid_argument", `cannot archive the ${role} disk ${path}: not a regular file`);
    return stat.size;
  } catch (error) {
    throw wrapError("not_found", `cannot archive the ${role} disk ${path}`, error);
  }
}

async function* tarMembers(
  members: Array<{ name: string; size: number; path?: string; data?: Uint8Array }>,
  mtime: number,
  hooks: ArchiveHooks,
): AsyncGenerator<Uint8Array> {
  for (const member of members) {
    yield fileHeader(member.name, member.size, mtime);
    if (member.data) yield member.data;
    else if (member.path) yield* readExactly(member.path, member.size);
    const padding = tarPadding(member.size);
    if (padding > 0) yield new Uint8Array(padding);
    hooks.point?.(`entry:${member.name}`);
  }
  yield TAR_END;
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Builds the archive at `dest` (see the file comment). Throws a BoxliteError; on failure `dest` is untouched and no temporary file remains. */
export async function writeArchive(options: WriteArchiveOptions): Promise<WriteArchiveResult> {
  const hooks = options.hooks ?? {};
  const now = options.now ?? new Date();
  const version = archiveVersionFor({
    hasBoxOptions: options.boxOptions !== undefined,
    hasCapabilityPolicy: options.hasCapabilityPolicy,
    hasPorts: options.hasPorts,
  });
  sweepStaleTemps(options.dest);
  const containerSize = diskSize(options.disks.container, "container");
  const guestSize = diskSize(options.disks.guest, "guest");
  const manifest: ArchiveManifest = {
    version,
    box_name: options.boxName ?? null,
    image: options.image,
    ...(options.boxOptions === undefined ? {} : { box_options: options.boxOptions }),
    guest_disk_checksum: await sha256File(options.disks.guest, guestSize),
    container_disk_checksum: await sha256File(options.disks.container, containerSize),
    exported_at: formatExportedAt(now),
  };
  const manifestBytes = serializeManifest(manifest);
  hooks.point?.("hashed");

  const temp = `${options.dest}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", 0o644);
    hooks.point?.("temp-created");
    const members = [
      { name: MANIFEST_ENTRY, size: manifestBytes.length, data: manifestBytes },
      { name: CONTAINER_DISK_ENTRY, size: containerSize, path: options.disks.container },
      { name: GUEST_DISK_ENTRY, size: guestSize, path: options.disks.guest },
    ];
    await compressInto(tarMembers(members, Math.floor(now.getTime() / 1000), hooks), fd);
    hooks.point?.("compressed");
    fsyncSync(fd);
    const bytes = statSync(temp).size;
    closeSync(fd);
    fd = undefined;
    hooks.point?.("synced");
    renameSync(temp, options.dest);
    hooks.point?.("renamed");
    syncDirectory(dirname(options.dest));
    return { path: options.dest, manifest, bytes };
  } catch (error) {
    if (fd !== undefined) closeSync(fd);
    rmSync(temp, { force: true });
    throw wrapError("disk", `cannot write the archive ${options.dest}`, error);
  }
}
