/**
 * Applies one tar entry into a root directory, keeping modes, ownership, mtimes, links,
 * xattrs, device nodes and fifos, and refusing any entry that would leave the root: `..`
 * components, a parent that is a symlink (made by this or an earlier layer), or a hard link
 * whose target escapes. Absolute paths are taken relative to the root, as the guest will see them.
 */
import {
  chmodSync,
  chownSync,
  closeSync,
  lchownSync,
  linkSync,
  lstatSync,
  lutimesSync,
  mkdirSync,
  openSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeSync,
} from "node:fs";
import type { Stats } from "node:fs";
import { join, normalize } from "node:path";
import { lsetxattr, mknod, S_IFBLK, S_IFCHR, S_IFIFO } from "../disk/libc.ts";
import { BoxliteError } from "../util/errors.ts";
import type { TarEntry } from "./tar.ts";

/** An xattr the layer holds that could not be set here. */
export interface SkippedXattr {
  path: string;
  name: string;
  /** The errno name, e.g. "EPERM" (unprivileged) or "ENOTSUP" (no such namespace on this filesystem). */
  code: string;
}

/** What applying one entry left out, so a caller can count and report it. */
export interface ApplyOutcome {
  /** A device node or fifo that could not be made here (mknod of a device needs CAP_MKNOD). */
  skippedSpecial: boolean;
  skippedXattrs: SkippedXattr[];
}

function refuse(source: string, path: string, why: string): BoxliteError {
  return new BoxliteError("invalid_argument", `${source}: entry ${JSON.stringify(path)} ${why}; refusing the layer`);
}

/** Normalizes an archive path to a relative one inside the root ("" is the root), or throws. */
export function safeRelative(path: string, source: string): string {
  if (path.split("/").includes("..")) throw refuse(source, path, "escapes the root filesystem");
  return normalize(`/${path}`).replace(/^\/+/, "").replace(/\/+$/, "");
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * Refuses to go through a symlinked parent: that is how a layer reaches outside the root
 * (`etc -> /host/etc`, then `etc/passwd`). Missing parents are made as real directories when
 * `create` is set; otherwise the result says whether they all exist.
 */
export function ensureRealParents(root: string, relative: string, source: string, create = true): boolean {
  let current = root;
  for (const part of relative.split("/").slice(0, -1)) {
    current = join(current, part);
    const stat = lstatOrUndefined(current);
    if (stat === undefined) {
      if (!create) return false;
      mkdirSync(current);
      continue;
    }
    if (stat.isSymbolicLink()) throw refuse(source, relative, `goes through the symlink ${JSON.stringify(current.slice(root.length))}`);
    if (!stat.isDirectory()) throw refuse(source, relative, `has the non-directory ${JSON.stringify(current.slice(root.length))} as a parent`);
  }
  return true;
}

/** True when every component of `relative` under `root` exists and none is a symlink, and the last is a directory. */
export function isRealDirectory(root: string, relative: string): boolean {
  let current = root;
  for (const part of relative === "" ? [] : relative.split("/")) {
    current = join(current, part);
    const stat = lstatOrUndefined(current);
    if (stat === undefined || stat.isSymbolicLink() || !stat.isDirectory()) return false;
  }
  return true;
}

/** Runs `change`; returns the errno name when it failed with one of `allowed`, rethrows otherwise. */
function tolerate(allowed: readonly string[], change: () => void): string | undefined {
  try {
    change();
    return undefined;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || !allowed.includes(code)) throw error;
    return code;
  }
}

/**
 * Ownership needs root (or CAP_CHOWN); an unprivileged user keeps its own and the image stays
 * usable. EINVAL is what a user namespace returns for an id it does not map.
 */
function setOwner(change: () => void): void {
  tolerate(["EPERM", "EINVAL"], change);
}

/**
 * Not permitted here, so skipped rather than fatal: EPERM/EACCES for trusted.* or
 * security.* without privilege (and user.* on a symlink or device), ENOTSUP for a filesystem
 * without the namespace, EINVAL for an SELinux host refusing a label its policy does not know.
 */
const XATTR_NOT_PERMITTED = ["EPERM", "EACCES", "ENOTSUP", "EOPNOTSUPP", "EINVAL"] as const;

function setXattrs(target: string, relative: string, entry: TarEntry, skipped: SkippedXattr[]): void {
  for (const [name, value] of Object.entries(entry.xattrs)) {
    const code = tolerate(XATTR_NOT_PERMITTED, () => lsetxattr(target, name, value));
    if (code !== undefined) skipped.push({ path: relative === "" ? "." : relative, name, code });
  }
}

/**
 * Applies metadata in this order because chown clears setuid/setgid bits and the
 * security.capability xattr on Linux; setting xattrs does not touch the mtime, so utimes can be last.
 */
function setMetadata(target: string, relative: string, entry: TarEntry, skipped: SkippedXattr[]): void {
  setOwner(() => chownSync(target, entry.uid, entry.gid));
  chmodSync(target, entry.mode);
  setXattrs(target, relative, entry, skipped);
  utimesSync(target, entry.mtime, entry.mtime);
}

const NODE_TYPES: Partial<Record<TarEntry["type"], number>> = { chardev: S_IFCHR, blockdev: S_IFBLK, fifo: S_IFIFO };

/** mknod of a device needs CAP_MKNOD (and a user namespace never grants it); ENOSYS is a libc without mknod. */
const MKNOD_NOT_PERMITTED = ["EPERM", "EACCES", "ENOSYS"] as const;

function linkHard(root: string, target: string, entry: TarEntry, source: string): void {
  if (entry.linkTarget.split("/").includes("..")) throw refuse(source, entry.path, `is a hard link to ${JSON.stringify(entry.linkTarget)}, outside the root`);
  const linked = safeRelative(entry.linkTarget, source);
  if (linked === "") throw refuse(source, entry.path, "is a hard link to the root directory");
  const stat = ensureRealParents(root, linked, source, false) ? lstatOrUndefined(join(root, linked)) : undefined;
  if (stat === undefined) throw refuse(source, entry.path, `is a hard link to ${JSON.stringify(entry.linkTarget)}, which is not extracted yet`);
  if (stat.isDirectory()) throw refuse(source, entry.path, `is a hard link to the directory ${JSON.stringify(entry.linkTarget)}`);
  // link(2) does not follow a symlink target, so this never reaches outside the root.
  linkSync(join(root, linked), target);
}

/**
 * Pieces are gathered up to this size for one write(2): a syscall per small piece made
 * applying a 1 GiB gzip layer about 30% slower (measured).
 */
const WRITE_BATCH = 1024 * 1024;

/**
 * The buffer `applyEntry` gathers a file's pieces in: make one per extraction and pass it for
 * every entry. A fresh 1 MiB per file cost about a sixth of applying a layer of 1 MiB files
 * (zero-filled pages faulted in and given back each time, measured). Entries are applied one
 * after the other, so one buffer is never in use twice at once; never share one between
 * extractions that run concurrently.
 */
export function newWriteBuffer(): Uint8Array {
  return new Uint8Array(WRITE_BATCH);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length; ) offset += writeSync(fd, bytes, offset);
}

async function copyContent(fd: number, entry: TarEntry, batch: Uint8Array): Promise<void> {
  let used = 0;
  for await (const piece of entry.content) {
    if (used + piece.length > batch.length) {
      writeAll(fd, batch.subarray(0, used));
      used = 0;
    }
    if (piece.length >= batch.length) {
      writeAll(fd, piece);
      continue;
    }
    batch.set(piece, used);
    used += piece.length;
  }
  writeAll(fd, batch.subarray(0, used));
}

/**
 * Streams a file entry's content into a new file at `target`, holding at most one batch.
 * "wx" is O_EXCL: if anything reappeared at the path, fail rather than follow it. A failure
 * midway (the archive cut short or past its size limit, a full disk) removes the partial
 * file, so the root only ever holds whole entries.
 */
async function writeContent(target: string, entry: TarEntry, buffer: Uint8Array): Promise<void> {
  const fd = openSync(target, "wx");
  try {
    await copyContent(fd, entry, buffer);
  } catch (error) {
    closeSync(fd);
    rmSync(target, { force: true });
    throw error;
  }
  closeSync(fd);
}

/**
 * Applies `entry` under `root`; `source` names the layer in errors. A file's content is read
 * from `entry.content` as it streams, gathered in `buffer` (from `newWriteBuffer`). Device
 * nodes, fifos and xattrs that this process may not create are left out and reported in the
 * outcome; an unknown entry type is always left out. Anything else that fails throws.
 */
export async function applyEntry(root: string, entry: TarEntry, source: string, buffer: Uint8Array): Promise<ApplyOutcome> {
  const outcome: ApplyOutcome = { skippedSpecial: false, skippedXattrs: [] };
  const relative = safeRelative(entry.path, source);
  if (relative === "") {
    // The root's times are set by the layer's last pass, after its children are written.
    if (entry.type === "directory") {
      setOwner(() => chownSync(root, entry.uid, entry.gid));
      chmodSync(root, entry.mode);
      setXattrs(root, relative, entry, outcome.skippedXattrs);
    }
    return outcome;
  }
  if (entry.type === "other") return { ...outcome, skippedSpecial: true };
  ensureRealParents(root, relative, source);
  const target = join(root, relative);
  const existing = lstatOrUndefined(target);
  // Removing first (never opening the old path) is what keeps a file from being written through a symlink.
  if (existing && !(existing.isDirectory() && entry.type === "directory")) rmSync(target, { recursive: true, force: true });
  switch (entry.type) {
    case "directory":
      if (!existing?.isDirectory()) mkdirSync(target);
      break;
    case "file":
      await writeContent(target, entry, buffer);
      break;
    case "symlink":
      // Kept as written, even absolute: the guest resolves it inside its own root.
      symlinkSync(entry.linkTarget, target);
      setOwner(() => lchownSync(target, entry.uid, entry.gid));
      setXattrs(target, relative, entry, outcome.skippedXattrs);
      lutimesSync(target, entry.mtime, entry.mtime);
      return outcome;
    case "hardlink":
      linkHard(root, target, entry, source);
      // The inode is shared: its owner, mode and times are the target's; only xattrs may be added.
      setXattrs(target, relative, entry, outcome.skippedXattrs);
      return outcome;
    case "chardev":
    case "blockdev":
    case "fifo": {
      // mknod never follows a symlink at the path (it fails with EEXIST), and the old path is gone.
      const type = NODE_TYPES[entry.type] ?? S_IFIFO;
      if (tolerate(MKNOD_NOT_PERMITTED, () => mknod(target, type, entry.mode, entry.devMajor, entry.devMinor)) !== undefined) {
        return { ...outcome, skippedSpecial: true };
      }
      break;
    }
  }
  setMetadata(target, relative, entry, outcome.skippedXattrs);
  return outcome;
}
