/**
 * Builds ext4 filesystem images from directories with e2fsprogs' `mke2fs -d`.
 * Images are sparse: free space costs address space, not host disk.
 */
import { lstatSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";

const MIB = 1024 * 1024;
/** Bytes of headroom per inode. */
export const INODE_RATIO = 16 * 1024;

export interface Ext4Options {
  /** Bytes of free space to leave beyond the content (the box writes into it). */
  headroom: number;
  /** A journal protects a writable filesystem from crashes; a read-only one does not need it. */
  journal: boolean;
}

/** Bytes the tree uses, counting each inode's block-rounded size. */
function treeSize(dir: string): { bytes: number; inodes: number } {
  let bytes = 0;
  let inodes = 1;
  for (const entry of readdirSync(dir, { recursive: true }) as string[]) {
    bytes += Math.ceil(lstatSync(join(dir, entry)).size / 4096) * 4096;
    inodes += 1;
  }
  return { bytes, inodes };
}

export function buildExt4FromDir(dir: string, outPath: string, options: Ext4Options): void {
  const { bytes, inodes } = treeSize(dir);
  // ext4 metadata (inode tables, bitmaps, journal) needs room beyond the content itself.
  const overhead = Math.max(4 * MIB, Math.ceil(bytes * 0.1)) + inodes * 256 + (options.journal ? 16 * MIB : 0);
  const size = Math.ceil((bytes + overhead + options.headroom) / MIB) * MIB;
  // One inode per 16 KiB of headroom, mke2fs's own default ratio: a box's installs are
  // small files (a node_modules is tens of thousands), and one per 64 KiB ran out at 16,000.
  const inodeCount = Math.max(1024, inodes * 2 + Math.floor(options.headroom / INODE_RATIO));
  const args = [
    "mke2fs",
    "-q",
    "-F",
    "-t",
    "ext4",
    "-b",
    "4096",
    "-m",
    "0",
    "-N",
    String(inodeCount),
    "-E",
    "lazy_itable_init=1,lazy_journal_init=1",
    ...(options.journal ? [] : ["-O", "^has_journal"]),
    "-d",
    dir,
    outPath,
    `${size / 1024}k`,
  ];
  let proc: ReturnType<typeof Bun.spawnSync>;
  try {
    proc = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  } catch (cause) {
    throw new BoxliteError("missing_dependency", "mke2fs was not found; install e2fsprogs (apt-get install e2fsprogs)", { cause });
  }
  if (proc.exitCode !== 0) {
    throw new BoxliteError("disk", `mke2fs could not build ${outPath} from ${dir}: ${proc.stderr?.toString().trim()}`);
  }
}
