/**
 * `cp` between the host and a running box, as tar streams through the box socket and
 * the guest agent (docs/guest-protocol.md, "Copying files"), with docker's placement
 * rules: into an existing directory under the source's name; to a new path under that
 * path's name; `SRC/.` copies a directory's contents. Copy-out extracts with the image
 * layer code (unpack.ts), so a hostile box cannot write outside the destination; copy-in
 * archives with the host's `tar` and the agent extracts inside the box's root. The REST
 * API's files routes take the tar streams themselves (filesOutStream, filesInStream).
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, posix, resolve } from "node:path";
import type { ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import { readTarStream, type TarEntry } from "../image/tar.ts";
import { applyEntry, newWriteBuffer, safeRelative } from "../image/unpack.ts";
import { BoxliteError } from "../util/errors.ts";
import { connectBox } from "./box-socket.ts";
import { readyBox } from "./lifecycle.ts";
import type { Home } from "./home.ts";

export interface CopyOptions {
  /** Follow the source when it is itself a symlink (docker's -L). */
  followSymlinks?: boolean;
  /** Refuse to replace existing files at the destination (copy-in). */
  noOverwrite?: boolean;
}

/** How long the agent may take to report after its stream ended. */
const EXIT_WAIT_MS = 10_000;

/** `BOX:PATH` names a path in a box; anything else (use `./a:b` for a host name with a colon) is a host path. */
export function parseCopyTarget(text: string): { box: string; path: string } | { host: string } {
  const colon = text.indexOf(":");
  if (colon > 0 && !text.slice(0, colon).includes("/")) return { box: text.slice(0, colon), path: text.slice(colon + 1) };
  return { host: text };
}

/** A box path made absolute and normalized, keeping a trailing `/.` (copy the contents). */
export function boxPath(path: string): string {
  if (path === "") throw new BoxliteError("usage", "a box path is empty; write BOX:/path");
  // Relative paths are relative to the box's root, as the agent sees them.
  const normalized = posix.normalize(`/${path}`);
  return path.endsWith("/.") ? `${normalized.replace(/\/$/, "")}/.` : normalized;
}

/** `otherwise` is the code of anything but a missing path or a refusal (code 1: a corrupt tar, a full disk…). */
function failure(status: ExitStatus, what: string, otherwise: "disk" | "invalid_argument" = "disk"): BoxliteError {
  const message = `${what}: ${status.error ?? `the copy ended with code ${status.code}`}`;
  if (status.code === 2) return new BoxliteError("not_found", message);
  if (status.code === 3) return new BoxliteError("invalid_argument", message);
  return new BoxliteError(otherwise, message);
}

/** The output of a stream as an iterable with backpressure: a chunk is granted back once taken. */
class OutputQueue {
  private readonly chunks: Array<{ chunk: Uint8Array; taken: () => void }> = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private discarding = false;

  push = (chunk: Uint8Array): Promise<void> =>
    this.discarding
      ? Promise.resolve()
      : new Promise((taken) => {
          this.chunks.push({ chunk, taken });
          this.wake?.();
        });

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  /** The consumer gave up: let the producer run to its end unheard. */
  discard(): void {
    this.discarding = true;
    for (const { taken } of this.chunks.splice(0)) taken();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    for (;;) {
      const next = this.chunks.shift();
      if (next) {
        next.taken();
        yield next.chunk;
      } else if (this.ended) return;
      else await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}

async function exitWithin(execution: GuestExecution, what: string): Promise<ExitStatus> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>(
    (_, reject) => (timer = setTimeout(() => reject(new BoxliteError("protocol", `${what}: the box did not report the end of the copy`)), EXIT_WAIT_MS)),
  );
  try {
    return await Promise.race([execution.exit.promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Where copy-out entries go: the directory to extract into, and the name the top entry takes there. */
export function outPlan(hostDst: string, contents: boolean): { root: string; rename?: string } {
  const target = resolve(hostDst);
  const stat = existsSync(target) ? statSync(target) : undefined;
  if (contents || stat?.isDirectory()) {
    if (stat && !stat.isDirectory())
      throw new BoxliteError("invalid_argument", `${hostDst} is not a directory; a directory's contents (SRC/.) go into a directory`);
    if (!stat && !existsSync(dirname(target))) throw new BoxliteError("not_found", `${dirname(target)} does not exist on the host`);
    return { root: target };
  }
  if (!existsSync(dirname(target))) throw new BoxliteError("not_found", `${dirname(target)} does not exist on the host`);
  return { root: dirname(target), rename: basename(target) };
}

function renamed(entry: TarEntry, from: string | undefined, to: string | undefined): TarEntry {
  if (from === undefined || to === undefined) return entry;
  const swap = (path: string) => (path === from || path.startsWith(`${from}/`) ? `${to}${path.slice(from.length)}` : path);
  return { ...entry, path: swap(entry.path), linkTarget: entry.type === "hardlink" ? swap(entry.linkTarget) : entry.linkTarget };
}

/** A copy-out tar being placed on the host; `stripTop` drops each entry's first name (a server's tar of SRC/. starts with SRC's). */
export interface CopyOutTarget {
  plan: { root: string; rename?: string };
  hostDst: string;
  source: string;
  contents: boolean;
  what: string;
  stripTop?: boolean;
}

/** Extracts a copy-out tar under docker's placement rules, refusing anything that would land outside the destination. */
export async function extractCopyOut(chunks: AsyncIterable<Uint8Array>, target: CopyOutTarget): Promise<void> {
  const { plan, hostDst, source, contents, what } = target;
  let top: string | undefined;
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  const buffer = newWriteBuffer();
  for await (const raw of readTarStream(chunks, what)) {
    const stripped = target.stripTop ? safeRelative(raw.path, what).split("/").slice(1).join("/") : undefined;
    const entry =
      stripped === undefined
        ? raw
        : { ...raw, path: stripped, linkTarget: raw.type === "hardlink" ? safeRelative(raw.linkTarget, what).split("/").slice(1).join("/") : raw.linkTarget };
    const relative = safeRelative(entry.path, what);
    if (relative === "") continue; // the top directory itself: the destination keeps its own metadata
    const first = relative.split("/")[0] as string;
    if (top === undefined) {
      top = first;
      if (plan.rename !== undefined && entry.type === "directory" && existsSync(resolve(hostDst))) {
        throw new BoxliteError("invalid_argument", `cannot copy the directory ${source} onto the file ${hostDst}`);
      }
    } else if (!contents && first !== top) {
      // A copy of one path has one top-level name; anything else would land beside the destination.
      throw new BoxliteError("protocol", `${what}: the box sent a second top-level entry ${JSON.stringify(first)}; refusing the copy`);
    }
    // A device node from a box could name one of the host's disks: never made here.
    if (entry.type === "chardev" || entry.type === "blockdev") continue;
    // Files copied out belong to the user who copies, as with docker cp.
    await applyEntry(plan.root, { ...renamed(entry, top, plan.rename), ...owner }, what, buffer);
  }
}

/** Copies `box:srcPath` to `hostDst`. */
export async function copyFromBox(home: Home, boxRef: string, srcPath: string, hostDst: string, options: CopyOptions = {}): Promise<void> {
  const box = await readyBox(home, boxRef, "copy");
  const source = boxPath(srcPath);
  // The root has no name of its own: copying it is copying its contents.
  const contents = source.endsWith("/.") || source === "/";
  const plan = outPlan(hostDst, contents);
  if (contents && !existsSync(plan.root)) mkdirSync(plan.root);
  const what = `cp ${box.name ?? box.id}:${source}`;
  const channel = await connectBox(home, box);
  const queue = new OutputQueue();
  try {
    const execution = channel.filesOut(
      { path: contents ? source.replace(/\/\.$/, "") || "/" : source, follow_symlinks: options.followSymlinks ?? false, include_parent: !contents },
      { onStdout: queue.push, onStderr: () => {} },
    );
    void execution.exit.promise.finally(() => queue.end()).catch(() => {});
    try {
      await extractCopyOut(queue, { plan, hostDst, source, contents, what });
    } catch (error) {
      queue.discard();
      const status = await exitWithin(execution, what).catch(() => undefined);
      if (status && status.code !== 0) throw failure(status, what);
      throw error;
    }
    const status = await exitWithin(execution, what);
    if (status.code !== 0) throw failure(status, what);
  } finally {
    channel.close();
  }
}

/** The host `tar` invocation that archives `hostSrc` the way FILES_IN expects it. */
export function tarArgs(hostSrc: string, contents: boolean, followSymlinks: boolean, topName?: string): string[] {
  const base = ["tar", "-c", "-f", "-", "--numeric-owner", "--owner=0", "--group=0"];
  if (contents) {
    const dir = hostSrc.slice(0, -2) || "/";
    const names = readdirSync(dir);
    return names.length === 0 ? [...base, "--files-from=/dev/null"] : [...base, "-C", dir, "--", ...names];
  }
  const path = resolve(hostSrc);
  const name = topName ?? basename(path);
  const rename = (from: string) => `--transform=s|^${from.replace(/[\\^$.*[\]|&]/g, "\\$&")}|${name.replace(/[\\|&]/g, "\\$&")}|`;
  if (!followSymlinks || !lstatSync(path).isSymbolicLink()) {
    const renaming = name === basename(path) ? [] : [rename(basename(path))];
    return [...base, ...renaming, "-C", dirname(path), "--", basename(path)];
  }
  // -L: archive what the link points to, under the link's name.
  const real = realpathSync(path);
  return [...base, rename(basename(real)), "-C", dirname(real), "--", basename(real)];
}

/** A copy-in source checked on the host: whether it is `DIR/.` (its contents), and whether it is a directory. */
export function hostSource(hostSrc: string, options: CopyOptions): { contents: boolean; isDirectory: boolean } {
  const contents = hostSrc.endsWith("/.");
  const stat = (() => {
    try {
      return (options.followSymlinks ? statSync : lstatSync)(contents ? hostSrc.slice(0, -2) || "/" : hostSrc);
    } catch {
      return undefined;
    }
  })();
  if (!stat) throw new BoxliteError("not_found", `${hostSrc} does not exist on the host`);
  if (contents && !stat.isDirectory()) throw new BoxliteError("invalid_argument", `${hostSrc}: only a directory has contents to copy (drop the /.)`);
  return { contents, isDirectory: stat.isDirectory() };
}

/** Copies `hostSrc` to `box:dstPath`. */
export async function copyToBox(home: Home, hostSrc: string, boxRef: string, dstPath: string, options: CopyOptions = {}): Promise<void> {
  const box = await readyBox(home, boxRef, "copy");
  const { contents } = hostSource(hostSrc, options);
  const destination = boxPath(dstPath).replace(/\/\.$/, "") || "/";
  const what = `cp ${hostSrc} ${box.name ?? box.id}:${destination}`;
  const tar = Bun.spawn(tarArgs(hostSrc, contents, options.followSymlinks ?? false), { stdout: "pipe", stderr: "pipe" });
  const channel = await connectBox(home, box);
  try {
    const execution = channel.filesIn({ path: destination, contents, no_overwrite: options.noOverwrite ?? false });
    for await (const chunk of tar.stdout) await execution.writeStdin(chunk);
    const [tarCode, tarErrors] = await Promise.all([tar.exited, new Response(tar.stderr).text()]);
    if (tarCode !== 0) {
      channel.close();
      throw new BoxliteError("disk", `${what}: tar could not read the source: ${tarErrors.trim()}`);
    }
    execution.closeStdin();
    const status = await exitWithin(execution, what);
    if (status.code !== 0) throw failure(status, what);
  } finally {
    tar.kill();
    channel.close();
  }
}

/** A tar stream out of a box; `done` settles once the whole tar was taken (or it failed). */
export interface FilesOutStream {
  stream: ReadableStream<Uint8Array>;
  done: Promise<void>;
}

/** An absolute box path, normalized: `..` cannot climb above the box's root (the agent chroots there as well). */
function absoluteBoxPath(path: string): string {
  if (!path.startsWith("/")) throw new BoxliteError("invalid_argument", `the box path ${JSON.stringify(path)} is relative; give an absolute path such as /app`);
  if (path.includes("\0")) throw new BoxliteError("invalid_argument", "a box path may not contain NUL");
  return posix.normalize(path);
}

/**
 * A tar of `path` in the box (FILES_OUT with include_parent, so entries start with the
 * path's basename; `/` gives the root's contents). Resolves once the first bytes came, so
 * a missing path rejects (not_found) before a caller commits to a response; a failure
 * after that errors the stream. Cancelling the stream ends the copy.
 */
export async function filesOutStream(home: Home, boxRef: string, path: string, options: CopyOptions = {}): Promise<FilesOutStream> {
  const box = await readyBox(home, boxRef, "copy");
  const source = absoluteBoxPath(path);
  const what = `download ${box.name ?? box.id}:${source}`;
  const channel = await connectBox(home, box);
  const queue = new OutputQueue();
  const execution = channel.filesOut(
    { path: source, follow_symlinks: options.followSymlinks ?? false, include_parent: true },
    { onStdout: queue.push, onStderr: () => {} },
  );
  void execution.exit.promise.finally(() => queue.end()).catch(() => {});
  const chunks = queue[Symbol.asyncIterator]();
  const finished = Promise.withResolvers<void>();
  finished.promise.catch(() => {});
  const settle = async (): Promise<void> => {
    const status = await exitWithin(execution, what);
    if (status.code !== 0) throw failure(status, what);
  };
  const first = await chunks.next();
  if (first.done) {
    // No bytes at all: the agent reported why (a missing path is code 2).
    try {
      await settle();
    } finally {
      channel.close();
    }
    throw new BoxliteError("protocol", `${what}: the box sent no tar`);
  }
  const stream = new ReadableStream<Uint8Array>({
    start: (controller) => controller.enqueue(first.value),
    async pull(controller) {
      try {
        const next = await chunks.next();
        if (!next.done) return controller.enqueue(next.value);
        await settle();
        controller.close();
        finished.resolve();
      } catch (error) {
        controller.error(error);
        finished.reject(error);
      }
      channel.close();
    },
    cancel() {
      queue.discard();
      channel.close();
      finished.reject(new BoxliteError("protocol", `${what}: the reader went away`));
    },
  });
  return { stream, done: finished.promise };
}

/**
 * Writes the tar read from `body` at `path` in the box, with backpressure (the body is
 * read only as the box takes it). The reference's rule for an upload, and cp's: a tar of
 * one file becomes `path` itself, unless `path` ends in `/` or is a directory, which then
 * receives the tar's entries (created when missing, not its parents). A tar the agent
 * cannot read is the caller's fault here (invalid_argument).
 */
export async function filesInStream(home: Home, boxRef: string, path: string, body: AsyncIterable<Uint8Array>, options: CopyOptions = {}): Promise<void> {
  const box = await readyBox(home, boxRef, "copy");
  const destination = absoluteBoxPath(path);
  const what = `upload to ${box.name ?? box.id}:${destination}`;
  // A trailing slash says "into this directory"; otherwise the agent decides by the tar (FILES_IN as_file).
  const into = path.endsWith("/") ? { contents: true } : { contents: true, as_file: true };
  const channel = await connectBox(home, box);
  try {
    const execution = channel.filesIn({ path: destination, ...into, no_overwrite: options.noOverwrite ?? false });
    let ended = false;
    void execution.exit.promise.finally(() => (ended = true)).catch(() => {});
    for await (const chunk of body) {
      // The agent gave up (a refused entry, say): its exit says why; the rest is not wanted.
      if (ended) break;
      await execution.writeStdin(chunk);
    }
    execution.closeStdin();
    const status = await exitWithin(execution, what);
    if (status.code !== 0) throw failure(status, what, "invalid_argument");
  } finally {
    channel.close();
  }
}
