/**
 * v6 → v7 for one box's guest disk: its private `rootfs-base` (a v6 reflink of the guest
 * rootfs) moves to the shared `bases/<id>.ext4`, and `guest-rootfs.qcow2` is pointed at
 * the new path by rewriting its header (same data, new location).
 */
import { existsSync, rmSync, statSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { readQcow2Info, setBackingFile } from "../../disk/qcow2.ts";
import { BoxliteError } from "../../util/errors.ts";
import { fsyncPath, moveFile } from "../files.ts";

export interface RootfsBaseContext {
  warn(message: string): void;
  point(name: string): void;
}

/**
 * Moves `source` to `dest` unless that already happened. Source and destination both
 * present means a cross-filesystem copy was published but the source not yet removed.
 */
export function moveRootfsBase(boxId: string, source: string, dest: string, context: RootfsBaseContext): void {
  if (existsSync(source) && existsSync(dest)) {
    if (statSync(source).size !== statSync(dest).size) {
      const why = `both ${source} and ${dest} exist with different sizes`;
      throw new BoxliteError("conflict", `box ${boxId}: ${why}; move one of them away and retry`);
    }
    rmSync(source);
    fsyncPath(dirname(source));
    return;
  }
  if (existsSync(source)) {
    moveFile(source, dest, { onCopied: () => context.point(`box:${boxId}:base-copied`) });
    return;
  }
  if (!existsSync(dest)) context.warn(`box ${boxId}: ${source} disappeared during the migration; no base recorded`);
}

/**
 * Points `guestDisk` at `dest` when it is backed by the box's rootfs-base (or already by
 * `dest`). A guest disk backed by something else, or by nothing, is left alone: a rebase
 * there would change what the guest reads. Failures are warnings, as in the reference:
 * the box is damaged, the rest of the home is not.
 */
export function rebaseGuestDisk(boxId: string, guestDisk: string, dest: string, context: RootfsBaseContext): void {
  if (!existsSync(guestDisk)) return;
  try {
    const backing = readQcow2Info(guestDisk).backingFile;
    if (backing === dest) return;
    if (backing === undefined || basename(backing) !== "rootfs-base") {
      context.warn(`box ${boxId}: ${guestDisk} is backed by ${backing ?? "nothing"}, not by its rootfs-base; left as is`);
      return;
    }
    setBackingFile(guestDisk, dest, "raw");
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    context.warn(`box ${boxId}: could not point ${guestDisk} at ${dest}: ${detail}`);
  }
}

const MAX_CHAIN_DEPTH = 16;

/** Warns about a missing file anywhere in the backing chain of `disk` (never throws). */
export function checkBackingChain(boxId: string, disk: string, context: RootfsBaseContext): void {
  let image = disk;
  for (let depth = 0; depth < MAX_CHAIN_DEPTH; depth++) {
    let info: ReturnType<typeof readQcow2Info>;
    try {
      info = readQcow2Info(image);
    } catch (error) {
      const detail = error instanceof Error ? error.message : String(error);
      context.warn(`box ${boxId}: cannot read the backing chain of ${disk}: ${detail}`);
      return;
    }
    if (info.backingFile === undefined) return;
    // qcow2: a relative backing name is relative to the image's own directory.
    const backing = resolve(dirname(image), info.backingFile);
    if (!existsSync(backing)) {
      context.warn(`box ${boxId}: ${disk} needs the backing file ${backing}, which is missing; the box will not start`);
      return;
    }
    if (info.backingFormat !== "qcow2") return;
    image = backing;
  }
  context.warn(`box ${boxId}: the backing chain of ${disk} is deeper than ${MAX_CHAIN_DEPTH}; not checked further`);
}
