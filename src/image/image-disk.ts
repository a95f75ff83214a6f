/**
 * Turns an image's layers into its cached ext4 base disk: the layers are applied in order
 * onto a staging directory under `<home>/tmp/`, their DiffIDs checked, and the result
 * written with `mke2fs -d` and published by an atomic rename. Boxes never see the staging
 * tree, only the finished, whole disk.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { buildExt4FromDir } from "../disk/ext4.ts";
import { BoxliteError } from "../util/errors.ts";
import { FileLock } from "../util/flock.ts";
import { publishFile, sha256Hex } from "../util/fs.ts";
import type { StoredBlob } from "./arriving-blob.ts";
import { type ApplyLayerOptions, type ApplyLayerResult, applyLayer } from "./layer.ts";
import { LayerThread } from "./layer-thread.ts";
import type { SkippedXattr } from "./unpack.ts";

const GIB = 1024 * 1024 * 1024;

/** Free space in the base; the box's overlay writes into it, so it keeps a journal too. */
const BASE_HEADROOM = GIB;

/** Default for `ImageDiskOptions.maxBytes`. */
export const DEFAULT_MAX_IMAGE_BYTES = 16 * GIB;

/**
 * One layer, bottom first: its blob (gzip, zstd or plain tar) as bytes that stream in, or as
 * a blob in the store, whole or still arriving, which is applied as it arrives in a worker
 * thread (layer-thread.ts) while the caller goes on downloading.
 */
export type LayerInput = {
  /** The layer's digest or file name, for errors. */
  source: string;
  /** Expected "sha256:<hex>" of the uncompressed tar; checked when given. */
  diffId?: string;
} & (
  | {
      /** Called once, when the layer is applied. */
      open(): AsyncIterable<Uint8Array> | Uint8Array;
    }
  | {
      /** A download that fails fails the build with its own error. */
      stored: StoredBlob;
    }
);

/** What one applied layer did, for progress lines and diagnostics. */
export interface LayerEvent {
  index: number;
  source: string;
  /** Uncompressed bytes. */
  bytes: number;
  entries: number;
  diffId: string;
  /** Device nodes and fifos this process may not create (unprivileged). */
  skippedSpecial: string[];
  /** Xattrs this process or filesystem does not allow. */
  skippedXattrs: SkippedXattr[];
}

/** Options for `buildImageDisk`. */
export interface ImageDiskOptions {
  /** Total uncompressed bytes allowed across all layers; default 16 GiB. */
  maxBytes?: number;
  onLayer?: (event: LayerEvent) => void;
}

/** Builds of this process in flight, by destination: a second caller waits for the first. */
const building = new Map<string, Promise<string>>();

/**
 * Builds the ext4 base at `destPath` from the layers (bottom first) unless it exists, and
 * returns `destPath`. On any failure nothing is left at `destPath` and the staging
 * directory is removed. Concurrent builds of one path share one build: in this process
 * through a map of promises, across processes through a lock file beside the disk.
 */
export function buildImageDisk(config: Readonly<Config>, layers: LayerInput[], destPath: string, options: ImageDiskOptions = {}): Promise<string> {
  if (existsSync(destPath)) return Promise.resolve(destPath);
  const pending = building.get(destPath);
  if (pending) return pending;
  const build = buildOnce(config, layers, destPath, options).finally(() => building.delete(destPath));
  building.set(destPath, build);
  return build;
}

/** A build of a big image takes minutes; a second process waits for it rather than building again. */
const BUILD_LOCK_TIMEOUT_MS = 30 * 60_000;

async function buildOnce(config: Readonly<Config>, layers: LayerInput[], destPath: string, options: ImageDiskOptions): Promise<string> {
  // The lock lives under tmp/ so the cache directories hold only finished disks.
  const locks = join(config.home, "tmp", "locks");
  mkdirSync(locks, { recursive: true });
  using _lock = await FileLock.acquire(join(locks, `disk-${sha256Hex(destPath).slice(0, 16)}`), "build image disk", BUILD_LOCK_TIMEOUT_MS);
  if (existsSync(destPath)) return destPath; // another process built it while we waited
  const staging = join(config.home, "tmp");
  mkdirSync(staging, { recursive: true });
  const work = mkdtempSync(join(staging, "image-"));
  try {
    const rootfs = join(work, "rootfs");
    mkdirSync(rootfs);
    // mkdtemp-style 0700 (or the umask) must not become the guest's / when no layer names "./".
    chmodSync(rootfs, 0o755);
    await applyLayers(rootfs, layers, options);
    addBootWrittenFiles(rootfs);
    await publishFile(destPath, (tmpPath) => {
      buildExt4FromDir(rootfs, tmpPath, { headroom: BASE_HEADROOM, journal: true });
      copyRootMetadata(rootfs, tmpPath);
    });
    return destPath;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

async function applyLayers(rootfs: string, layers: LayerInput[], options: ImageDiskOptions): Promise<void> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  let used = 0;
  using thread = new LayerThread();
  for (const [index, layer] of layers.entries()) {
    const layerOptions = {
      source: layer.source,
      // One budget for the whole image: many layers just under a per-layer limit are as big a bomb as one.
      maxBytes: maxBytes - used,
      limitDescription: `the image's limit of ${maxBytes} bytes (${formatBytes(maxBytes)}) for all layers together, ${used} of which the layers below it use`,
    };
    const result = "stored" in layer ? await applyStored(thread, rootfs, layer.stored, layerOptions) : await applyLayer(rootfs, layer.open(), layerOptions);
    if (layer.diffId !== undefined && layer.diffId !== result.diffId) {
      throw new BoxliteError(
        "invalid_argument",
        `${layer.source}: the layer's content does not match its diff id: expected ${layer.diffId}, got ${result.diffId}; the image is corrupt or was tampered with`,
      );
    }
    used += result.bytes;
    options.onLayer?.({
      index,
      source: layer.source,
      bytes: result.bytes,
      entries: result.entries,
      diffId: result.diffId,
      skippedSpecial: result.skippedSpecial,
      skippedXattrs: result.skippedXattrs,
    });
  }
}

/** Applies a stored blob in the layer thread; when its download failed, that failure is the error. */
async function applyStored(thread: LayerThread, rootfs: string, blob: StoredBlob, options: ApplyLayerOptions): Promise<ApplyLayerResult> {
  try {
    return await thread.apply(rootfs, blob, options);
  } catch (error) {
    await blob.done;
    throw error;
  }
}

function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${+(bytes / GIB).toFixed(1)} GiB`;
  return `${+(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/** The files the guest agent writes into the box's /etc at every boot (guest/etc_files.c). */
const BOOT_WRITTEN = ["resolv.conf", "hosts"];

/**
 * Gives the base an empty /etc/resolv.conf and /etc/hosts where the image has none (most
 * have no resolv.conf: docker makes it per container), as docker's containers always have
 * them. The agent then rewrites a file in place at a box's first boot instead of creating
 * one, which under emulation costs ~5–10 ms more (an inode and a directory entry allocated).
 * An /etc that is a symlink, or a name that is anything already, is left as the image has it;
 * the directories keep the times the layers gave them.
 */
function addBootWrittenFiles(rootfs: string): void {
  const etc = join(rootfs, "etc");
  // Nothing at all there: a symlink, dangling or not, is something.
  const missing = (path: string) => lstatSync(path, { throwIfNoEntry: false }) === undefined;
  try {
    if (missing(etc)) keepingTimes(rootfs, () => mkdirSync(etc, { mode: 0o755 }));
    if (!lstatSync(etc).isDirectory()) return;
    keepingTimes(etc, () => {
      for (const path of BOOT_WRITTEN.map((name) => join(etc, name)).filter(missing)) {
        writeFileSync(path, "");
        chmodSync(path, 0o644); // not the umask's
      }
    });
  } catch (error) {
    // An unprivileged build cannot write into a directory its layers made read-only (0555):
    // the image is left as it is, and the agent creates the files at boot, as it always could.
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EACCES" && code !== "EPERM") throw error;
  }
}

function keepingTimes(dir: string, change: () => void): void {
  const { atime, mtime } = statSync(dir);
  try {
    change();
  } finally {
    utimesSync(dir, atime, mtime);
  }
}

/**
 * mke2fs -d copies every inode's metadata and xattrs but gives the root directory its own
 * defaults (0755, root:root, the build time), e2fsprogs 1.47.0 measured: set the root's
 * mode, owner and times from the staging root, which holds what the layers said.
 */
function copyRootMetadata(rootfs: string, image: string): void {
  const stat = statSync(rootfs);
  const seconds = Math.floor(stat.mtimeMs / 1000);
  const commands = [
    `sif / mode 0${(stat.mode & 0o177777).toString(8)}`,
    `sif / uid ${stat.uid}`,
    `sif / gid ${stat.gid}`,
    `sif / mtime @${seconds}`,
    `sif / atime @${seconds}`,
  ];
  let proc: ReturnType<typeof Bun.spawnSync>;
  try {
    proc = Bun.spawnSync(["debugfs", "-w", "-f", "-", image], { stdin: Buffer.from(`${commands.join("\n")}\n`), stdout: "pipe", stderr: "pipe" });
  } catch (cause) {
    throw new BoxliteError("missing_dependency", "debugfs was not found; install e2fsprogs (apt-get install e2fsprogs)", { cause });
  }
  // debugfs exits 0 even when a command fails; its errors are the stderr lines after the version banner.
  const errors = (proc.stderr?.toString() ?? "").split("\n").filter((line) => line.trim() !== "" && !line.startsWith("debugfs "));
  if (proc.exitCode !== 0 || errors.length > 0) {
    throw new BoxliteError("disk", `debugfs could not set the root directory of ${image}: ${errors.join("; ") || `exit ${proc.exitCode}`}`);
  }
}
