/**
 * Writes a `.boxlite` archive: manifest.json, disk.qcow2, guest-rootfs.qcow2 and a
 * suspended box's memory.state in a zstd-compressed tar, built in a temporary sibling of the destination, fsynced and renamed
 * into place, so `dest` is either absent or whole. A writer killed midway leaves its temporary
 * file behind; the next write into that directory sweeps it (see `sweepStaleTemps`).
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BoxliteError, wrapError } from "../util/errors.ts";
import { isPidAlive } from "../util/proc.ts";
import {
  CONTAINER_DISK_ENTRY,
  GUEST_DISK_ENTRY,
  MANIFEST_ENTRY,
  MEMORY_STATE_ENTRY,
  type ArchiveManifest,
  archiveVersionFor,
  formatExportedAt,
  serializeManifest,
} from "./archive-manifest.ts";
import { fileHeader, TAR_END, tarPadding } from "./archive-tar.ts";
import { storedFrame } from "./archive-zstd.ts";
import { packInto } from "./pack-thread.ts";

/** Test hooks: `point` runs at each named step ("temp-created", "entry:disk.qcow2", "entry:guest-rootfs.qcow2", "compressed", "entry:manifest.json", "synced", "renamed"); throwing or dying there simulates a crash. */
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
  /**
   * Standalone qcow2 disks; without a guest disk the archive carries none (the reference's
   * newer exports). The container disk may be a backing chain, flattened into the archive as
   * it is read (an export's).
   */
  disks: { container: string | ChainSource; guest?: string };
  /** boxlite's own manifest field (see ArchiveManifest.image_config). */
  imageConfig?: Record<string, unknown>;
  /** A suspended box's saved state (v6): its file, its manifest, and the checksum it must have ("sha256:<hex>"). */
  memory?: { state: string; manifest: Record<string, unknown>; checksum: string };
  now?: Date;
  hooks?: ArchiveHooks;
}

/** A backing chain to flatten into the archive: `size` is its `flattenedSize`; the chain must hold still until `packed` is called. */
export interface ChainSource {
  chain: string;
  size: number;
  /** Called once the chain has been read whole (its member is in the archive), before the archive is finished. */
  packed?(): void;
}

export interface WriteArchiveResult {
  path: string;
  manifest: ArchiveManifest;
  /** Size of the archive file. */
  bytes: number;
}

/** `<dest name>.tmp-<pid>-<12 hex>`: the pid tells a sweeper whether its writer still lives. */
const TEMP_NAME = /^(.+)\.tmp-(\d+)-[0-9a-f]{12}$/;

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
    if (isPidAlive(Number(pid))) continue; // Our own pid too: another export of this process may be writing it.
    rmSync(join(dir, name), { force: true });
    removed.push(join(dir, name));
  }
  return removed;
}

/** `what`: "container disk", "guest disk" or "memory state", for the error. */
function diskSize(path: string, what: string): number {
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new BoxliteError("invalid_argument", `cannot archive the ${what} ${path}: not a regular file`);
    return stat.size;
  } catch (error) {
    throw wrapError("not_found", `cannot archive the ${what} ${path}`, error);
  }
}

interface DiskMember {
  name: string;
  /** A file, or a chain to flatten (`size` is its flattened size). */
  source: string | ChainSource;
  size: number;
  /** Filled in as the disk streams past: "sha256:<hex>". */
  checksum?: string;
  /** What the checksum must be: a file that changed since it was hashed is not archived. */
  expected?: string;
}

/**
 * Appends the disks' members and the end blocks at `fd`'s offset, hashing each disk. Each
 * disk's content is its own zstd frame, hashed and compressed on a worker thread as it is
 * read (pack-thread.ts); the tar headers, padding and end blocks between them are stored
 * frames. The frames make one ordinary multi-frame stream, the tar whole once decompressed.
 */
async function appendDiskMembers(fd: number, disks: DiskMember[], mtime: number, hooks: ArchiveHooks): Promise<void> {
  let framing: Uint8Array[] = [];
  for (const disk of disks) {
    framing.push(fileHeader(disk.name, disk.size, mtime));
    writeAll(fd, storedFrame(Buffer.concat(framing)), null);
    framing = [];
    const path = typeof disk.source === "string" ? disk.source : disk.source.chain;
    if (typeof disk.source === "string") {
      disk.checksum = await packInto({ file: disk.source, size: disk.size }, fd);
    } else {
      disk.checksum = await packInto({ chain: disk.source.chain, size: disk.size }, fd);
      disk.source.packed?.();
    }
    if (disk.expected !== undefined && disk.checksum !== disk.expected)
      throw new BoxliteError("disk", `cannot archive ${path}: it does not match its checksum (${disk.expected}, read ${disk.checksum})`);
    framing.push(new Uint8Array(tarPadding(disk.size)));
    hooks.point?.(`entry:${disk.name}`);
  }
  framing.push(TAR_END);
  writeAll(fd, storedFrame(Buffer.concat(framing)), null);
}

/** The manifest member (header, JSON, padding) as the stored zstd frame that opens the archive. */
function manifestFrame(manifest: ArchiveManifest, mtime: number): Uint8Array {
  const json = serializeManifest(manifest);
  return storedFrame(Buffer.concat([fileHeader(MANIFEST_ENTRY, json.length, mtime), json, new Uint8Array(tarPadding(json.length))]));
}

/** Writes all of `bytes`: at the descriptor's offset (moving it) when `position` is null, else at `position` (leaving it). */
function writeAll(fd: number, bytes: Uint8Array, position: number | null): void {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, bytes.length - done, position === null ? null : position + done);
}

function syncDirectory(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Builds the archive at `dest` (see the file comment) in one pass over the disks: the
 * manifest comes first in the tar but needs the disks' checksums, so room for it is reserved
 * as a stored zstd frame of known size (checksums have a fixed length), the disks are
 * compressed after it while being hashed, and the frame is written last. Throws a
 * BoxliteError; on failure `dest` is untouched and no temporary file remains.
 */
export async function writeArchive(options: WriteArchiveOptions): Promise<WriteArchiveResult> {
  const hooks = options.hooks ?? {};
  const now = options.now ?? new Date();
  const mtime = Math.floor(now.getTime() / 1000);
  const version = archiveVersionFor({
    hasBoxOptions: options.boxOptions !== undefined,
    hasCapabilityPolicy: options.hasCapabilityPolicy,
    hasPorts: options.hasPorts,
    hasMemory: options.memory !== undefined,
  });
  sweepStaleTemps(options.dest);
  const guest = options.disks.guest;
  const container = options.disks.container;
  const memory = options.memory;
  const disks: DiskMember[] = [
    { name: CONTAINER_DISK_ENTRY, source: container, size: typeof container === "string" ? diskSize(container, "container disk") : container.size },
    ...(guest === undefined ? [] : [{ name: GUEST_DISK_ENTRY, source: guest, size: diskSize(guest, "guest disk") }]),
    ...(memory === undefined
      ? []
      : [{ name: MEMORY_STATE_ENTRY, source: memory.state, size: diskSize(memory.state, "memory state"), expected: memory.checksum }]),
  ];
  const manifest: ArchiveManifest = {
    version,
    box_name: options.boxName ?? null,
    image: options.image,
    ...(options.boxOptions === undefined ? {} : { box_options: options.boxOptions }),
    // Placeholders as long as the real values, so the reserved room fits the final manifest.
    guest_disk_checksum: guest === undefined ? "" : `sha256:${"0".repeat(64)}`,
    container_disk_checksum: `sha256:${"0".repeat(64)}`,
    exported_at: formatExportedAt(now),
    ...(options.imageConfig === undefined ? {} : { image_config: options.imageConfig }),
    ...(memory === undefined ? {} : { memory: memory.manifest, memory_checksum: memory.checksum }),
  };
  const reserved = manifestFrame(manifest, mtime).length;

  const temp = `${options.dest}.tmp-${process.pid}-${randomBytes(6).toString("hex")}`;
  let fd: number | undefined;
  try {
    fd = openSync(temp, "wx", 0o644);
    hooks.point?.("temp-created");
    // The members are written on from the descriptor's offset, past the reserved room.
    writeAll(fd, new Uint8Array(reserved), null);
    await appendDiskMembers(fd, disks, mtime, hooks);
    hooks.point?.("compressed");
    manifest.container_disk_checksum = disks[0]?.checksum ?? "";
    if (guest !== undefined) manifest.guest_disk_checksum = disks[1]?.checksum ?? "";
    const frame = manifestFrame(manifest, mtime);
    if (frame.length !== reserved) throw new BoxliteError("internal", `the manifest frame grew from ${reserved} to ${frame.length} bytes`);
    writeAll(fd, frame, 0);
    hooks.point?.(`entry:${MANIFEST_ENTRY}`);
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
