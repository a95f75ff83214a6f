/**
 * Builds ext4 filesystem images from directories with e2fsprogs' `mke2fs -d`.
 * Images are sparse: free space costs address space, not host disk.
 */
import { lstatSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { childEnv } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";

const MIB = 1024 * 1024;
/** Bytes of headroom per inode. */
export const INODE_RATIO = 16 * 1024;

export interface Ext4Options {
  /** Bytes of free space to leave beyond the content (the box writes into it). */
  headroom: number;
  /** A journal protects a writable filesystem from crashes; a read-only one does not need it. */
  journal: boolean;
  /**
   * The same bytes from the same tree, on any machine: this UUID (and directory hash seed),
   * and every timestamp 0. mke2fs adds a tree's entries in sorted order, so nothing else
   * varies. For trees of plain names (no whitespace or quotes: debugfs's command syntax).
   */
  reproducibleUuid?: string;
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
    ...(options.reproducibleUuid ? ["-U", options.reproducibleUuid] : []),
    "-E",
    `lazy_itable_init=1,lazy_journal_init=1${options.reproducibleUuid ? `,hash_seed=${options.reproducibleUuid}` : ""}`,
    ...(options.journal ? [] : ["-O", "^has_journal"]),
    "-d",
    dir,
    outPath,
    `${size / 1024}k`,
  ];
  // An existing, sparse file of the final size: mke2fs discards it (a hole reads as zeros) and
  // so marks every group's inode table zeroed. The file it creates itself is left unmarked
  // (lazy_itable_init), and the guest kernel's ext4lazyinit thread then zeroes the tables on
  // the box's vCPU in its first seconds (0–5 s after the mount), and writes the zeros into
  // the box's overlay.
  writeFileSync(outPath, "");
  truncateSync(outPath, size);
  let proc: ReturnType<typeof Bun.spawnSync>;
  try {
    // E2FSPROGS_FAKE_TIME: mke2fs's own switch for the times it stamps (0 means "now").
    const env = childEnv(options.reproducibleUuid ? { E2FSPROGS_FAKE_TIME: "1" } : {});
    proc = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe", env });
  } catch (cause) {
    throw new BoxliteError("missing_dependency", "mke2fs was not found; install e2fsprogs (apt-get install e2fsprogs)", { cause });
  }
  if (proc.exitCode !== 0) {
    throw new BoxliteError("disk", `mke2fs could not build ${outPath} from ${dir}: ${proc.stderr?.toString().trim()}`);
  }
  if (options.reproducibleUuid) zeroTimes(dir, outPath);
}

/**
 * Sets every inode's times to 0 with debugfs: mke2fs copies each file's times from the tree,
 * ctime and a directory's atime included, which no one can set on the host.
 */
function zeroTimes(dir: string, image: string): void {
  const paths = ["/", "/lost+found", ...(readdirSync(dir, { recursive: true }) as string[]).map((entry) => `/${entry}`)];
  const odd = paths.find((path) => /[\s"'\\]/.test(path));
  if (odd !== undefined) throw new BoxliteError("internal", `cannot build a reproducible ext4 of ${dir}: ${JSON.stringify(odd)} is not a plain name`);
  const commands = paths.flatMap((path) => ["atime", "ctime", "mtime", "crtime"].map((field) => `set_inode_field ${path} ${field} 0`));
  const proc = Bun.spawnSync(["debugfs", "-w", "-f", "-", image], {
    stdin: new TextEncoder().encode(`${commands.join("\n")}\n`),
    stdout: "pipe",
    stderr: "pipe",
    env: childEnv({ E2FSPROGS_FAKE_TIME: "1" }),
  });
  // debugfs exits 0 whatever its commands did: their complaints are on stderr, after its banner.
  const complaints = proc.stderr.toString().split("\n").slice(1).join("\n").trim();
  if (proc.exitCode !== 0 || complaints !== "")
    throw new BoxliteError("disk", `debugfs could not set the times in ${image}: ${complaints || `exit ${proc.exitCode}`}`);
}
