/**
 * The content-addressed blob store under `images/`: `layers/`, `manifests/` and
 * `configs/`, each blob named by its digest (`sha256-<hex>`). A blob is downloaded into
 * `<name>.partial`, hashed on the way, and renamed into place only when whole and
 * verified, so a present blob is always good. A partial download that broke off is
 * resumed (HTTP Range) by the next attempt, in this process or a later one. One lock
 * file per blob makes two processes pulling the same layer download it once; within a
 * process, concurrent requests for one blob share one download.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { FileLock } from "../util/flock.ts";

export type BlobKind = "layers" | "manifests" | "configs";

/** A download attempt: the body from `offset` on (the server may ignore the range and start at 0). */
export type BlobFetcher = (offset: number) => Promise<{ body: AsyncIterable<Uint8Array>; offset: number }>;

export interface FetchBlobOptions {
  /** Bytes the blob must have (from its descriptor). */
  size: number;
  /** Where the bytes come from: a registry, a local layout. */
  fetch: BlobFetcher;
  /** Called with the bytes on disk so far (resumed bytes included). */
  onProgress?: (bytes: number) => void;
  /** Attempts for a body that breaks off mid-way; each resumes where the last stopped. */
  attempts?: number;
}

/** How long a second process waits for the first to finish downloading a blob. */
const BLOB_LOCK_TIMEOUT_MS = 30 * 60_000;
const HEX = /^sha256:([a-f0-9]{64})$/;

function hexOf(digest: string): string {
  const match = HEX.exec(digest);
  if (!match) throw new BoxliteError("invalid_argument", `${JSON.stringify(digest)} is not a sha256 digest`);
  return match[1] as string;
}

/** Hashes what a partial file already holds, so a resumed download verifies the whole blob. */
async function hashExisting(path: string, hasher: Bun.CryptoHasher): Promise<number> {
  if (!existsSync(path)) return 0;
  let bytes = 0;
  for await (const chunk of Bun.file(path).stream()) {
    hasher.update(chunk);
    bytes += chunk.length;
  }
  return bytes;
}

export class BlobStore {
  private readonly inFlight = new Map<string, Promise<string>>();

  constructor(readonly imagesDir: string) {}

  path(kind: BlobKind, digest: string): string {
    return join(this.imagesDir, kind, `sha256-${hexOf(digest)}`);
  }

  /** Where the blob arrives while it downloads (renamed to `path` once whole and verified). */
  partialPath(kind: BlobKind, digest: string): string {
    return `${this.path(kind, digest)}.partial`;
  }

  has(kind: BlobKind, digest: string): boolean {
    return existsSync(this.path(kind, digest));
  }

  /** A stored small blob (manifest, config), or undefined. */
  read(kind: BlobKind, digest: string): Uint8Array | undefined {
    const path = this.path(kind, digest);
    return existsSync(path) ? readFileSync(path) : undefined;
  }

  /** Stores bytes already in memory (a manifest or config), after checking their digest. */
  put(kind: BlobKind, digest: string, bytes: Uint8Array): string {
    const path = this.path(kind, digest);
    const actual = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
    if (actual !== digest) throw new BoxliteError("invalid_argument", `${kind.slice(0, -1)} ${digest} arrived with content ${actual}; refusing it`);
    if (existsSync(path)) return path;
    mkdirSync(join(this.imagesDir, kind), { recursive: true });
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, bytes);
    const fd = openSync(tmp, "r");
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
    return path;
  }

  /** The blob's path, downloading it first when missing (once, however many ask at once). */
  fetch(kind: BlobKind, digest: string, options: FetchBlobOptions): Promise<string> {
    const path = this.path(kind, digest);
    if (existsSync(path)) return Promise.resolve(path);
    let pending = this.inFlight.get(path);
    if (!pending) {
      pending = this.download(kind, digest, path, options).finally(() => this.inFlight.delete(path));
      this.inFlight.set(path, pending);
    }
    return pending;
  }

  /** Removes a blob and any partial download of it. */
  remove(kind: BlobKind, digest: string): void {
    const path = this.path(kind, digest);
    for (const file of [path, this.partialPath(kind, digest), `${path}.lock`]) rmSync(file, { force: true });
  }

  private async download(kind: BlobKind, digest: string, path: string, options: FetchBlobOptions): Promise<string> {
    mkdirSync(join(this.imagesDir, kind), { recursive: true });
    using _lock = await FileLock.acquire(`${path}.lock`, `download ${digest}`, BLOB_LOCK_TIMEOUT_MS);
    if (existsSync(path)) return path; // another process finished it while we waited
    const partial = this.partialPath(kind, digest);
    const attempts = options.attempts ?? 3;
    let firstError: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.downloadOnce(digest, partial, options);
        break;
      } catch (error) {
        // Only a body that broke off is worth resuming; bad content or a refusal is final.
        // The first failure says what went wrong; a failed resume of it rarely says more.
        firstError ??= error;
        const resumable = error instanceof BoxliteError && error.code === "registry" && existsSync(partial);
        if (!resumable) throw error;
        if (attempt >= attempts) throw firstError;
      }
    }
    renameSync(partial, path);
    return path;
  }

  private async downloadOnce(digest: string, partial: string, options: FetchBlobOptions): Promise<void> {
    let hasher = new Bun.CryptoHasher("sha256");
    let have = await hashExisting(partial, hasher);
    if (have > options.size) have = -1;
    if (have < options.size) {
      const response = await options.fetch(Math.max(have, 0));
      // A server that ignored the range sends the blob from the start: hash it afresh.
      if (response.offset !== have) {
        hasher = new Bun.CryptoHasher("sha256");
        have = 0;
      }
      const file = await open(partial, have === 0 ? "w" : "a");
      try {
        options.onProgress?.(have);
        for await (const chunk of response.body) {
          have += chunk.length;
          if (have > options.size) {
            rmSync(partial, { force: true });
            throw new BoxliteError("invalid_argument", `blob ${digest} is longer than the ${options.size} bytes its descriptor says; refusing it`);
          }
          hasher.update(chunk);
          await file.write(chunk);
          options.onProgress?.(have);
        }
        await file.sync();
      } catch (error) {
        if (error instanceof BoxliteError) throw error;
        throw new BoxliteError("registry", `the download of blob ${digest} broke off after ${have} of ${options.size} bytes: ${(error as Error).message}`, {
          cause: error,
        });
      } finally {
        await file.close();
      }
    }
    if (have < options.size)
      throw new BoxliteError("registry", `blob ${digest} ended after ${have} of ${options.size} bytes (truncated); retry the pull to resume it`);
    const actual = `sha256:${hasher.digest("hex")}`;
    if (actual !== digest) {
      rmSync(partial, { force: true });
      throw new BoxliteError("invalid_argument", `blob ${digest} arrived with content ${actual} (digest mismatch); it was discarded, retry the pull`);
    }
  }

  /** Bytes of a stored blob (for `images` sizes). */
  size(kind: BlobKind, digest: string): number {
    return statSync(this.path(kind, digest)).size;
  }
}
