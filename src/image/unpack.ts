/**
 * Applies one tar entry into a root directory, keeping modes, ownership, mtimes and links,
 * and refusing any entry that would leave the root: `..` components, a parent that is a
 * symlink (made by this or an earlier layer), or a hard link whose target escapes.
 * Absolute paths are taken relative to the root, as the guest will see them.
 */
import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import type { Stats } from "node:fs";
import { join, normalize } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import type { TarEntry } from "./tar.ts";

/** What applying one entry did, so a caller can count and report it. */
export type ApplyOutcome = "applied" | "skipped-special";

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

/**
 * Ownership needs root (or CAP_CHOWN); an unprivileged user keeps its own and the image stays
 * usable. EINVAL is what a user namespace returns for an id it does not map.
 */
function setOwner(change: () => void): void {
  try {
    change();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EPERM" && code !== "EINVAL") throw error;
  }
}

/** Applies metadata in this order because chown clears setuid/setgid bits on Linux. */
function setMetadata(target: string, entry: TarEntry): void {
  setOwner(() => chownSync(target, entry.uid, entry.gid));
  chmodSync(target, entry.mode);
  utimesSync(target, entry.mtime, entry.mtime);
}

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
 * Applies `entry` under `root`; `source` names the layer in errors. Device nodes and fifos
 * are skipped (Node cannot mknod) and reported as "skipped-special" for the caller to count.
 * Xattrs are not set here (Node has no setxattr); callers collect `entry.xattrs`.
 */
export function applyEntry(root: string, entry: TarEntry, source: string): ApplyOutcome {
  const relative = safeRelative(entry.path, source);
  if (relative === "") {
    if (entry.type === "directory") chmodSync(root, entry.mode);
    return "applied";
  }
  if (entry.type === "chardev" || entry.type === "blockdev" || entry.type === "fifo" || entry.type === "other") return "skipped-special";
  ensureRealParents(root, relative, source);
  const target = join(root, relative);
  const existing = lstatOrUndefined(target);
  // Removing first (never opening the old path) is what keeps a file from being written through a symlink.
  if (existing && !(existing.isDirectory() && entry.type === "directory")) rmSync(target, { recursive: true, force: true });
  switch (entry.type) {
    case "directory":
      if (!existing?.isDirectory()) mkdirSync(target);
      setMetadata(target, entry);
      return "applied";
    case "file":
      // "wx" is O_EXCL: if anything reappeared at the path, fail rather than follow it.
      writeFileSync(target, entry.data, { flag: "wx" });
      setMetadata(target, entry);
      return "applied";
    case "symlink":
      // Kept as written, even absolute: the guest resolves it inside its own root.
      symlinkSync(entry.linkTarget, target);
      setOwner(() => lchownSync(target, entry.uid, entry.gid));
      lutimesSync(target, entry.mtime, entry.mtime);
      return "applied";
    case "hardlink":
      linkHard(root, target, entry, source);
      return "applied";
  }
}
