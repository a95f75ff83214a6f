/**
 * Reads an untrusted `.boxlite` archive into a staging directory: zstd or plain tar (by
 * magic), only the known regular-file members, each at most once, within a byte budget,
 * the manifest checked as soon as it arrives and the checksums at the end. Any refusal removes
 * everything extracted so far.
 */
import { closeSync, constants, fsyncSync, ftruncateSync, openSync, readdirSync, readSync, rmSync, statfsSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { readTarStream, type SparseMap, type TarEntry } from "../image/tar.ts";
import { BoxliteError, isBoxliteError } from "../util/errors.ts";
import {
  type ArchiveManifest,
  CONTAINER_DISK_ENTRY,
  GUEST_DISK_ENTRY,
  MANIFEST_ENTRY,
  MAX_MANIFEST_BYTES,
  MEMORY_STATE_ENTRY,
  parseManifest,
} from "./archive-manifest.ts";
import { type Decompression, decompressFile, isZstd } from "./archive-zstd.ts";

export interface ReadArchiveLimits {
  /** Most bytes all members may extract to. Default: the free space of the staging directory's file system, at most 256 GiB. */
  maxBytes?: number;
  /** Most bytes manifest.json may hold. Default 1 MiB. */
  maxManifestBytes?: number;
}

export interface ReadArchiveResult {
  manifest: ArchiveManifest;
  /** Whether the archive was zstd-compressed (v2+) rather than a plain tar (v1). */
  compressed: boolean;
  manifestPath: string;
  containerDisk: string;
  /** Absent when the archive carries no guest disk (the reference's newer exports; their guest checksum is ""). */
  guestDisk: string | null;
  /** A suspended box's saved state (v6; its manifest is `manifest.memory`), checked against `memory_checksum`. */
  memoryState: string | null;
}

const DEFAULT_MAX_BYTES = 256 * 1024 ** 3;
/** Tar headers, padding and end blocks on top of the members' bytes. */
const FRAMING_SLACK = 64 * 1024;
const EXPECTED = new Set([MANIFEST_ENTRY, CONTAINER_DISK_ENTRY, GUEST_DISK_ENTRY, MEMORY_STATE_ENTRY]);

function refuse(detail: string): BoxliteError {
  return new BoxliteError("invalid_argument", `invalid archive: ${detail}`);
}

/** Counts the bytes flowing out of the (de)compressor and stops them past the budget, so a bomb never runs on. */
async function* capped(chunks: AsyncIterable<Uint8Array>, limit: number, state: { total: number; ended: boolean }): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    state.total += chunk.length;
    if (state.total > limit) throw refuse(`it expands past ${limit} bytes (the limit for this import); refusing it`);
    yield chunk;
  }
  state.ended = true;
}

/** One iterator that both the tar reader and the drain after it pull from. */
function shared<T>(iterator: AsyncIterator<T>): AsyncIterable<T> {
  return { [Symbol.asyncIterator]: () => iterator };
}

const TYPE_NAMES: Record<TarEntry["type"], string> = {
  file: "a regular file",
  directory: "a directory",
  symlink: "a symbolic link",
  hardlink: "a hard link",
  chardev: "a character device",
  blockdev: "a block device",
  fifo: "a FIFO",
  other: "a special member (volume label or unknown type)",
};

function describeType(entry: TarEntry): string {
  return TYPE_NAMES[entry.type];
}

/** The member's name with any leading "./" dropped; refuses a name that could land outside the staging directory. */
function memberName(entry: TarEntry): string | undefined {
  const name = entry.path.replace(/^(\.\/)+/, "");
  if (name === "" || name === "." || name === "./") {
    if (entry.type === "directory") return undefined; // `tar -C dir -cf x .` writes "./" first: harmless.
    throw refuse(`member ${JSON.stringify(entry.path)} is ${describeType(entry)}, not a file`);
  }
  if (name.startsWith("/") || name.split("/").includes("..")) throw refuse(`member ${JSON.stringify(entry.path)} escapes the staging directory`);
  if (entry.type !== "file" && entry.sparse === undefined)
    throw refuse(`member ${JSON.stringify(entry.path)} is ${describeType(entry)}; only regular files are allowed`);
  if (!EXPECTED.has(name)) throw refuse(`unexpected member ${JSON.stringify(entry.path)} (an archive holds only ${[...EXPECTED].join(", ")})`);
  return name;
}

function defaultMaxBytes(dir: string): number {
  const stat = statfsSync(dir);
  return Math.min(DEFAULT_MAX_BYTES, stat.bavail * stat.bsize);
}

/** A plain file's bytes, in chunks. */
async function* readFileChunks(path: string): AsyncGenerator<Uint8Array> {
  const fd = openSync(path, "r");
  try {
    for (;;) {
      const buffer = new Uint8Array(256 * 1024);
      const length = readSync(fd, buffer, 0, buffer.length, null);
      if (length === 0) return;
      yield buffer.subarray(0, length);
    }
  } finally {
    closeSync(fd);
  }
}

function readHead(path: string): Uint8Array {
  const fd = openSync(path, "r");
  try {
    const head = new Uint8Array(4);
    return head.subarray(0, readSync(fd, head, 0, 4, 0));
  } finally {
    closeSync(fd);
  }
}

interface Extracted {
  path: string;
  checksum: string;
}

/** Writes one member to a new file (never through an existing name or link), hashing it; the manifest's bytes are kept too. */
async function extractMember(entry: TarEntry, path: string, keep: Uint8Array[] | undefined): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  const fd = openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    if (entry.sparse) await writeSparse(entry.content, entry.sparse, fd, hasher);
    else {
      for await (const piece of entry.content) {
        hasher.update(piece);
        keep?.push(piece.slice());
        for (let done = 0; done < piece.length; ) done += writeSync(fd, piece, done);
      }
    }
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return `sha256:${hasher.digest("hex")}`;
}

const ZEROS = new Uint8Array(1024 * 1024);

function hashZeros(hasher: Bun.CryptoHasher, length: number): void {
  for (let left = length; left > 0; left -= ZEROS.length) hasher.update(left >= ZEROS.length ? ZEROS : ZEROS.subarray(0, left));
}

/**
 * Writes a sparse member's data segments at their offsets, leaving the holes between them
 * unwritten (the file stays sparse), and sets its length to the real size. The hash covers
 * the expanded file, holes as zeros. The map was checked by the tar reader.
 */
async function writeSparse(content: AsyncIterable<Uint8Array>, map: SparseMap, fd: number, hasher: Bun.CryptoHasher): Promise<void> {
  let segment = 0;
  let position = map.segments[0]?.offset ?? 0;
  let left = map.segments[0]?.length ?? 0;
  let hashed = 0;
  const advance = () => {
    while (left === 0 && segment < map.segments.length - 1) {
      segment++;
      position = map.segments[segment]?.offset ?? 0;
      left = map.segments[segment]?.length ?? 0;
    }
  };
  advance();
  for await (const data of content) {
    for (let at = 0; at < data.length; ) {
      if (left === 0) throw new BoxliteError("internal", "a sparse member carries more data than its map holds");
      const piece = data.subarray(at, at + left);
      hashZeros(hasher, position - hashed);
      hasher.update(piece);
      for (let done = 0; done < piece.length; ) done += writeSync(fd, piece, done, piece.length - done, position + done);
      position += piece.length;
      hashed = position;
      left -= piece.length;
      at += piece.length;
      advance();
    }
  }
  hashZeros(hasher, map.realSize - hashed);
  ftruncateSync(fd, map.realSize);
}

function checkStaging(dir: string): void {
  let names: string[];
  try {
    if (!statSync(dir).isDirectory()) throw new Error("not a directory");
    names = readdirSync(dir);
  } catch (error) {
    throw new BoxliteError("internal", `the import staging directory ${dir} is unusable: ${(error as Error).message}`, { cause: error });
  }
  if (names.length > 0) throw new BoxliteError("internal", `the import staging directory ${dir} is not empty`);
}

function verify(manifest: ArchiveManifest, members: Map<string, Extracted>): void {
  const container = members.get(CONTAINER_DISK_ENTRY);
  const guest = members.get(GUEST_DISK_ENTRY);
  if (container === undefined) throw refuse(`it lacks ${CONTAINER_DISK_ENTRY}`);
  if (guest === undefined && manifest.guest_disk_checksum !== "") throw refuse(`it lacks ${GUEST_DISK_ENTRY}, which its manifest has a checksum for`);
  if (guest !== undefined && manifest.guest_disk_checksum === "" && manifest.version >= 2)
    throw refuse(`it carries ${GUEST_DISK_ENTRY} but its version ${manifest.version} manifest has no checksum for it`);
  const memory = members.get(MEMORY_STATE_ENTRY);
  if ((memory !== undefined) !== (manifest.memory !== undefined))
    throw refuse(
      memory ? `it carries ${MEMORY_STATE_ENTRY} but its manifest has no "memory" for it` : `it lacks ${MEMORY_STATE_ENTRY}, which its manifest describes`,
    );
  for (const [name, expected, member] of [
    [CONTAINER_DISK_ENTRY, manifest.container_disk_checksum, container],
    [GUEST_DISK_ENTRY, manifest.guest_disk_checksum, guest],
    [MEMORY_STATE_ENTRY, manifest.memory_checksum ?? "", memory],
  ] as const) {
    if (member !== undefined && expected !== "" && member.checksum !== expected)
      throw refuse(`${name} does not match its checksum (manifest ${expected}, content ${member.checksum}): the archive is corrupt`);
  }
}

async function extractAll(source: AsyncIterable<Uint8Array>, intoDir: string, label: string, limits: Required<ReadArchiveLimits>, created: string[]) {
  const members = new Map<string, Extracted>();
  let manifest: ArchiveManifest | undefined;
  let claimed = 0;
  for await (const entry of readTarStream(source, label)) {
    const name = memberName(entry);
    if (name === undefined) continue;
    if (members.has(name)) throw refuse(`member ${JSON.stringify(name)} appears twice`);
    if ((name === MANIFEST_ENTRY || name === MEMORY_STATE_ENTRY) && entry.sparse) throw refuse(`${name} is a sparse file; only the disks may be`);
    if (name === MANIFEST_ENTRY && entry.size > limits.maxManifestBytes)
      throw refuse(`${MANIFEST_ENTRY} claims ${entry.size} bytes, past the limit of ${limits.maxManifestBytes}`);
    claimed += entry.sparse?.realSize ?? entry.size;
    if (claimed > limits.maxBytes) throw refuse(`its members claim more than ${limits.maxBytes} bytes (the limit for this import); refusing it`);
    const path = join(intoDir, name);
    created.push(path);
    const keep = name === MANIFEST_ENTRY ? [] : undefined;
    members.set(name, { path, checksum: await extractMember(entry, path, keep) });
    if (keep) manifest = parseManifest(Buffer.concat(keep));
  }
  if (manifest === undefined) throw refuse(`it lacks ${MANIFEST_ENTRY}`);
  verify(manifest, members);
  return { manifest, members };
}

/**
 * Extracts the archive at `path` into `intoDir`, an empty directory the caller owns (on the
 * file system the disks will live on). Throws a BoxliteError ("invalid_argument" for a bad
 * archive, "unsupported" for a newer version); on failure `intoDir` is left empty.
 */
export async function readArchive(path: string, intoDir: string, limits: ReadArchiveLimits = {}): Promise<ReadArchiveResult> {
  checkStaging(intoDir);
  const label = `archive ${path}`;
  let head: Uint8Array;
  try {
    head = readHead(path);
  } catch (error) {
    throw new BoxliteError(
      (error as NodeJS.ErrnoException).code === "ENOENT" ? "not_found" : "disk",
      `cannot read the archive ${path}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const settled: Required<ReadArchiveLimits> = {
    maxBytes: limits.maxBytes ?? defaultMaxBytes(intoDir),
    maxManifestBytes: limits.maxManifestBytes ?? MAX_MANIFEST_BYTES,
  };
  const compressed = isZstd(head);
  const decompression: Decompression | undefined = compressed ? decompressFile(path, label) : undefined;
  const state = { total: 0, ended: false };
  const iterator = capped(decompression?.chunks ?? readFileChunks(path), settled.maxBytes + FRAMING_SLACK, state)[Symbol.asyncIterator]();
  const created: string[] = [];
  try {
    const { manifest, members } = await extractAll(shared(iterator), intoDir, label, settled, created);
    if (decompression) {
      // The rest is end blocks and padding; reading it lets zstd say whether the stream ended where it should.
      while (!(await iterator.next()).done);
      const zstdError = await decompression.finish();
      if (zstdError) throw zstdError;
    }
    return {
      manifest,
      compressed,
      manifestPath: join(intoDir, MANIFEST_ENTRY),
      containerDisk: join(intoDir, CONTAINER_DISK_ENTRY),
      guestDisk: members.get(GUEST_DISK_ENTRY)?.path ?? null,
      memoryState: members.get(MEMORY_STATE_ENTRY)?.path ?? null,
    };
  } catch (error) {
    await iterator.return?.(undefined);
    // When zstd's output ended early, its own complaint (a corrupt or cut stream) explains the refusal best.
    const zstdError = state.ended ? await decompression?.finish() : await decompression?.stop();
    for (const file of created) rmSync(file, { force: true });
    if (zstdError && !(isBoxliteError(error) && error.code === "unsupported")) throw zstdError;
    if (isBoxliteError(error)) throw error;
    const code = typeof (error as NodeJS.ErrnoException).code === "string" ? "disk" : "internal";
    throw new BoxliteError(code, `cannot import ${path}: ${(error as Error).message}`, { cause: error });
  }
}
