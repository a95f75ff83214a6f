/**
 * Applies tar entries into a root directory, keeping modes, ownership and links, and
 * refusing any entry whose path would leave the root (`..`, absolute links followed by
 * later entries, or a parent that is a symlink).
 */
import { chmodSync, chownSync, lchownSync, linkSync, lstatSync, mkdirSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join, normalize } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import type { TarEntry } from "./tar.ts";

/** Normalizes an archive path to a relative one inside the root, or throws. */
function safeRelative(path: string, source: string): string {
  const cleaned = normalize(`/${path}`).replace(/^\/+/, "").replace(/\/+$/, "");
  if (path.split("/").includes("..")) {
    throw new BoxliteError("invalid_argument", `${source}: entry ${JSON.stringify(path)} escapes the root filesystem; refusing the image`);
  }
  return cleaned;
}

/** Refuses to write through a symlinked parent: that is how a layer reaches outside the root. */
function assertRealParents(root: string, relative: string, source: string): void {
  const parts = relative.split("/").slice(0, -1);
  let current = root;
  for (const part of parts) {
    current = join(current, part);
    let stat;
    try {
      stat = lstatSync(current);
    } catch {
      return; // Missing parents are created as real directories below.
    }
    if (stat.isSymbolicLink()) {
      throw new BoxliteError("invalid_argument", `${source}: entry ${JSON.stringify(relative)} goes through the symlink ${JSON.stringify(current.slice(root.length))}; refusing the image`);
    }
  }
}

/** Ownership needs root; an unprivileged user keeps its own and the image stays usable. */
function setOwner(change: () => void): void {
  try {
    change();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") throw error;
  }
}

export function applyEntry(root: string, entry: TarEntry, source: string): void {
  const relative = safeRelative(entry.path, source);
  if (relative === "" || relative === ".") {
    if (entry.type === "directory") chmodSync(root, entry.mode);
    return;
  }
  assertRealParents(root, relative, source);
  const target = join(root, relative);
  mkdirSync(join(target, ".."), { recursive: true });
  if (entry.type !== "directory") rmSync(target, { force: true, recursive: true });
  switch (entry.type) {
    case "directory":
      mkdirSync(target, { recursive: true });
      break;
    case "file":
      writeFileSync(target, entry.data);
      break;
    case "symlink":
      symlinkSync(entry.linkTarget, target);
      setOwner(() => lchownSync(target, entry.uid, entry.gid));
      return;
    case "hardlink": {
      const linked = safeRelative(entry.linkTarget, source);
      assertRealParents(root, linked, source);
      linkSync(join(root, linked), target);
      return;
    }
    case "other":
      return; // Device nodes and fifos: not needed by the images we build yet.
  }
  setOwner(() => chownSync(target, entry.uid, entry.gid));
  chmodSync(target, entry.mode);
  utimesSync(target, entry.mtime, entry.mtime);
}
