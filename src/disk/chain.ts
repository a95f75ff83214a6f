/**
 * Backing chains of qcow2 images: the list of files a disk reads through, and whether
 * one file is among them (so it must not be deleted). Built on readQcow2Info, so every
 * header is read as untrusted; files are compared by device and inode, never by name.
 */
import { closeSync, openSync, readSync, type BigIntStats, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { type BackingFormat, Qcow2Errno, qcow2ErrnoOf, readQcow2Info } from "./qcow2.ts";

/** qemu follows deeper chains; boxlite makes one level per snapshot or clone. The C
 * library's QCOW2_MAX_CHAIN, so what reads here also flattens. */
export const MAX_CHAIN_DEPTH = 64;

/** One file of a backing chain. */
export interface ChainImage {
  /** Absolute, as qemu would open it: a relative backing name is resolved against the
   * directory of the image naming it (symbolic links are not resolved). */
  path: string;
  format: BackingFormat;
  /** Bytes the guest sees through this image (a raw file's length). */
  virtualSize: number;
}

/** What went wrong reading a chain, for callers that must tell a broken disk from a broken host. */
export type ChainFault = "missing" | "corrupt" | "io";

const QCOW2_MAGIC = 0x514649fb;
const CORRUPT_ERRNOS = new Set(["EINVAL", "ENOTSUP", "ELOOP"]);

/**
 * The images `path` (qcow2) reads through, from itself down to the bottom. A backing
 * file without a recorded format is probed as qemu does (qcow2 magic, else raw).
 * Throws a BoxliteError: not_found when a file is missing, disk for a corrupt header,
 * a chain deeper than MAX_CHAIN_DEPTH or one that loops, or a read fault;
 * classifyChainError tells these apart.
 */
export function readBackingChain(path: string): ChainImage[] {
  const chain: ChainImage[] = [];
  for (const _ of walkChain(path, chain, MAX_CHAIN_DEPTH));
  return chain;
}

/**
 * The paths `path` reads through, itself first, as far as the chain can be read, and never
 * throwing: the first file that cannot be read (missing, corrupt, a loop, past `maxDepth`)
 * ends the list and is in it, since what a broken chain names may still be needed. For
 * deciding what must not be deleted (src/runtime/disk-usage.ts), where a chain that cannot
 * be read whole must still protect all it names.
 */
export function chainPathsAsFarAsReadable(path: string, maxDepth: number): string[] {
  const paths: string[] = [];
  try {
    for (const current of walkChain(path, [], maxDepth)) paths.push(current);
  } catch {
    // The list ends at the file that could not be read.
  }
  return paths;
}

/**
 * Walks the chain from `path` down: yields each file's path before reading it, then appends
 * what it read to `chain`; throws at a file it cannot read, a loop or past `maxDepth` images.
 */
function* walkChain(path: string, chain: ChainImage[], maxDepth: number): Generator<string> {
  const seen = new Set<string>();
  let current = resolve(path);
  let format: BackingFormat = "qcow2";
  for (let depth = 0; ; depth++) {
    if (depth === maxDepth) throw chainTooDeep(path);
    yield current;
    const stats = statOf(path, current);
    const id = fileId(stats);
    if (seen.has(id)) throw chainLoop(path, current);
    seen.add(id);
    if (format === "raw") {
      chain.push({ path: current, format, virtualSize: Number(stats.size) });
      return;
    }
    const info = readQcow2Info(current);
    chain.push({ path: current, format, virtualSize: info.virtualSize });
    if (info.backingFile === undefined) return;
    const backing = resolve(dirname(current), info.backingFile);
    format = backingFormatOf(path, current, backing, info.backingFormat);
    current = backing;
  }
}

/**
 * Whether `image` reads through `candidate`: whether candidate is one of the backing
 * files anywhere below image (image itself is not). Compared by device and inode, so
 * another name or a symbolic link for the same file counts. A candidate that does not
 * exist is nobody's dependency. Throws as readBackingChain does for a broken chain.
 */
export function isBackingDependency(image: string, candidate: string): boolean {
  let target: BigIntStats;
  try {
    target = statSync(candidate, { bigint: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw chainError("disk", `check whether ${image} depends on ${candidate}`, "EIO", "cannot stat the candidate", error);
  }
  const wanted = fileId(target);
  return readBackingChain(image)
    .slice(1)
    .some((entry) => fileId(statOf(image, entry.path)) === wanted);
}

/** Tells the errors of readBackingChain (and of the qcow2 wrappers) apart; undefined for others. */
export function classifyChainError(error: unknown): ChainFault | undefined {
  const errno = qcow2ErrnoOf(error);
  if (errno === undefined) return undefined;
  if (errno === "ENOENT" || errno === "ENOTDIR") return "missing";
  return CORRUPT_ERRNOS.has(errno) ? "corrupt" : "io";
}

function backingFormatOf(top: string, image: string, backing: string, recorded?: string): BackingFormat {
  if (recorded === "raw" || recorded === "qcow2") return recorded;
  if (recorded !== undefined) {
    const why = `${image} names its backing file's format "${recorded}", which is neither raw nor qcow2`;
    throw chainError("unsupported", `read the backing chain of ${top}`, "ENOTSUP", why);
  }
  return hasQcow2Magic(top, backing) ? "qcow2" : "raw";
}

function hasQcow2Magic(top: string, path: string): boolean {
  const head = new Uint8Array(4);
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch (error) {
    throw fsError(top, path, error);
  }
  try {
    const n = readSync(fd, head, 0, 4, 0);
    return n === 4 && new DataView(head.buffer).getUint32(0) === QCOW2_MAGIC;
  } catch (error) {
    throw fsError(top, path, error);
  } finally {
    closeSync(fd);
  }
}

function statOf(top: string, path: string): BigIntStats {
  try {
    return statSync(path, { bigint: true });
  } catch (error) {
    throw fsError(top, path, error);
  }
}

function fileId(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}`;
}

function fsError(top: string, path: string, error: unknown): BoxliteError {
  const errno = (error as NodeJS.ErrnoException).code ?? "EIO";
  const operation = `read the backing chain of ${top}`;
  if (errno === "ENOENT" || errno === "ENOTDIR") {
    return chainError("not_found", operation, errno, `${path} does not exist`, error);
  }
  return chainError("disk", operation, errno, `cannot read ${path}`, error);
}

function chainTooDeep(top: string): BoxliteError {
  const why = `it is deeper than ${MAX_CHAIN_DEPTH} images`;
  return chainError("disk", `read the backing chain of ${top}`, "ELOOP", why);
}

function chainLoop(top: string, path: string): BoxliteError {
  return chainError("disk", `read the backing chain of ${top}`, "ELOOP", `it loops back to ${path}`);
}

function chainError(code: BoxliteError["code"], operation: string, errno: string, why: string, cause?: unknown): BoxliteError {
  const todo = "check the backing files with qemu-img info --backing-chain";
  return new BoxliteError(code, `${operation}: ${why} (${errno}); ${todo}`, { cause: new Qcow2Errno(errno, { cause }) });
}
