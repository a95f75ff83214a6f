/**
 * Applies an OCI image layer (gzip, zstd or plain tar) onto a rootfs directory that holds
 * the layers below it: OCI whiteouts (`.wh.<name>`) delete lower files, `.wh..wh..opq`
 * empties a directory of lower content, and every entry goes through unpack.ts's checks.
 * See the OCI image spec, layer.md "Whiteouts".
 */
import { lstatSync, readdirSync, rmSync, utimesSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BoxliteError, wrapError } from "../util/errors.ts";
import { decompressLayer } from "./decompress.ts";
import { readTarStream } from "./tar.ts";
import type { TarEntry } from "./tar.ts";
import { applyEntry, ensureRealParents, isRealDirectory, newWriteBuffer, safeRelative } from "./unpack.ts";
import type { ApplyOutcome, SkippedXattr } from "./unpack.ts";

const WHITEOUT = ".wh.";
const OPAQUE = ".wh..wh..opq";

/** Options for `applyLayer`. */
export interface ApplyLayerOptions {
  /** Names the layer in errors and results (its digest, or a file name). */
  source: string;
  /** Most uncompressed bytes the layer may hold; past it the layer is refused. */
  maxBytes?: number;
  /** How the refusal names that limit; default "the limit of <maxBytes> bytes". */
  limitDescription?: string;
}

/** What a layer did, for progress lines and diagnostics. */
export interface ApplyLayerResult {
  /** Tar entries read, whiteouts included. */
  entries: number;
  /** Uncompressed tar bytes read, trailing padding included. */
  bytes: number;
  /** "sha256:<hex>" of the uncompressed tar stream: the layer's DiffID (OCI image-spec config.md). */
  diffId: string;
  /** Device nodes and fifos not created because this process may not (unprivileged); the guest's devtmpfs provides /dev. */
  skippedSpecial: string[];
  /** Xattrs not set because this process or filesystem does not allow them. */
  skippedXattrs: SkippedXattr[];
  /** Lower-layer paths removed by whiteouts and opaque directories. */
  whiteouts: number;
}

/** Removes everything under `dir` that this layer did not add (`added` holds root-relative paths). */
function makeOpaque(root: string, dir: string, added: Set<string>): number {
  let removed = 0;
  for (const name of readdirSync(join(root, dir))) {
    const relative = dir === "" ? name : `${dir}/${name}`;
    if (!added.has(relative)) {
      rmSync(join(root, relative), { recursive: true, force: true });
      removed++;
      continue;
    }
    // A directory this layer re-declared keeps only this layer's children too.
    if (lstatSync(join(root, relative)).isDirectory()) removed += makeOpaque(root, relative, added);
  }
  return removed;
}

/** Handles a whiteout entry; returns how many lower paths it removed, or undefined if not one. */
function applyWhiteout(root: string, entry: TarEntry, added: Set<string>, source: string): number | undefined {
  const name = basename(entry.path.replace(/\/+$/, ""));
  if (!name.startsWith(WHITEOUT)) return undefined;
  const relative = safeRelative(entry.path, source);
  // Nothing lower to hide when the directory is missing; do not create it just to empty it.
  if (!ensureRealParents(root, relative, source, false)) return 0;
  const dir = dirname(relative) === "." ? "" : dirname(relative);
  if (name === OPAQUE) return makeOpaque(root, dir, added);
  const hidden = name.slice(WHITEOUT.length);
  // ".wh.." or ".wh..." would otherwise name the directory itself or its parent, outside the root at the top.
  if (hidden === "" || hidden === "." || hidden === "..")
    throw new BoxliteError("invalid_argument", `${source}: entry ${JSON.stringify(entry.path)} is a whiteout of ${JSON.stringify(hidden)}; refusing the layer`);
  const victim = join(root, dir, hidden);
  const existed = lstatOrFalse(victim);
  rmSync(victim, { recursive: true, force: true });
  return existed ? 1 : 0;
}

function lstatOrFalse(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Wraps a filesystem failure (ENOSPC, EACCES…) with the layer and the entry it hit. */
async function applyOne(root: string, entry: TarEntry, source: string, buffer: Uint8Array): Promise<ApplyOutcome> {
  try {
    return await applyEntry(root, entry, source, buffer);
  } catch (error) {
    throw wrapError("disk", `${source}: could not apply entry ${JSON.stringify(entry.path)}`, error);
  }
}

/**
 * Applies one layer blob onto `root`. Throws a BoxliteError ("invalid_argument") naming the
 * layer and the offending path for an escaping entry, a corrupt stream or a layer past
 * `maxBytes`; the root is then partly written and the caller should discard it.
 */
export async function applyLayer(root: string, blob: Uint8Array | AsyncIterable<Uint8Array>, options: ApplyLayerOptions): Promise<ApplyLayerResult> {
  const result: ApplyLayerResult = { entries: 0, bytes: 0, diffId: "", skippedSpecial: [], skippedXattrs: [], whiteouts: 0 };
  const added = new Set<string>();
  const directories: { relative: string; mtime: number }[] = [];
  const hasher = new Bun.CryptoHasher("sha256");
  const buffer = newWriteBuffer();
  const limit = options.maxBytes ?? Number.POSITIVE_INFINITY;
  // The limit is checked here rather than in decompressLayer so the refusal can name the caller's limit (an image's total).
  async function* countBytes(): AsyncGenerator<Uint8Array> {
    for await (const chunk of decompressLayer(blob, { source: options.source })) {
      result.bytes += chunk.length;
      if (result.bytes > limit) {
        const what = options.limitDescription ?? `the limit of ${limit} bytes`;
        throw new BoxliteError(
          "invalid_argument",
          `${options.source}: layer expands past ${what}; refusing it (raise the image size limit if the image is genuine)`,
        );
      }
      hasher.update(chunk);
      yield chunk;
    }
  }
  const stream = countBytes();
  try {
    for await (const entry of readTarStream(stream, options.source)) {
      result.entries++;
      const removed = applyWhiteout(root, entry, added, options.source);
      if (removed !== undefined) {
        result.whiteouts += removed;
        continue;
      }
      const relative = safeRelative(entry.path, options.source);
      const outcome = await applyOne(root, entry, options.source, buffer);
      result.skippedXattrs.push(...outcome.skippedXattrs);
      if (outcome.skippedSpecial) {
        result.skippedSpecial.push(relative);
        continue;
      }
      // Ancestors count as added too, so an opaque marker later in this layer keeps them.
      for (let path = relative; path !== "." && path !== ""; path = dirname(path)) added.add(path);
      if (entry.type === "directory") directories.push({ relative, mtime: entry.mtime });
    }
    // The reader stops at the end-of-archive blocks; the DiffID covers the whole stream, padding after them included.
    for await (const _chunk of stream) {
      // Only hashed and counted.
    }
  } finally {
    // The tar reader does not close its input when it stops or throws: close it, so the decompressor is destroyed.
    await stream.return(undefined);
  }
  result.diffId = `sha256:${hasher.digest("hex")}`;
  // Entries written into a directory bump its mtime; restore the archive's times last, deepest first.
  // A later entry may have replaced the directory or a parent by a symlink: never set times through one.
  for (const { relative, mtime } of directories.reverse()) {
    if (isRealDirectory(root, relative)) utimesSync(join(root, relative), mtime, mtime);
  }
  return result;
}
