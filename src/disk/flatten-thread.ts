/**
 * Flattens a backing chain in a worker thread (flatten-worker.ts) into a scratch file, front
 * to back (qcow2_flatten_fd), while the caller reads the file as it grows: an export hashes
 * and compresses the image while it is being made rather than after (docs/archive.md). The
 * file is the buffer between the two: the flatten never waits for its reader, so a box held
 * still for it runs on as soon as its chain has been read, however far the compression lags.
 */
import { closeSync, openSync } from "node:fs";
import { open } from "node:fs/promises";
import { BoxliteError, type ErrorCode } from "../util/errors.ts";
import { isCompiled } from "../util/self.ts";
import { flattenedSize } from "./qcow2.ts";

/** What the main thread asks: write `src`'s flattened image, `size` bytes, to descriptor `fd`. */
export interface FlattenRequest {
  src: string;
  fd: number;
  size: number;
}

/** The worker's answer: nothing, or the error (a BoxliteError keeps its code). */
export interface FlattenReply {
  error?: { code?: ErrorCode; message: string };
}

/** A flattened image being written: its size up front, its bytes as they come. */
export interface FlatStream {
  /** The image's final size in bytes, known from the chain's tables before any byte is written. */
  size: number;
  /** The image's bytes in order, as the flatten writes them; exactly `size` of them; throws the flatten's error. */
  chunks: AsyncIterable<Uint8Array>;
  /** Resolves once the whole image is written (the chain is no longer read); rejects with the flatten's error. */
  written: Promise<void>;
}

/** Bytes read at a time. */
const READ_CHUNK = 1024 * 1024;

/** How long a reader that caught up with the flatten waits before looking again. */
const CATCH_UP_MS = 1;

/** From source the worker is the module beside this one; the compiled executable holds it as an entry point of its own (scripts/build.ts). */
function workerUrl(): URL {
  return new URL(isCompiled() ? "./disk/flatten-worker.ts" : "./flatten-worker.ts", import.meta.url);
}

/** Runs one flatten in a new worker, which ends with it. */
function runWorker(request: FlattenRequest): Promise<void> {
  const { promise, resolve, reject } = Promise.withResolvers<void>();
  const worker = new Worker(workerUrl());
  let settled = false;
  const settle = (error?: BoxliteError) => {
    if (settled) return;
    settled = true;
    worker.terminate();
    if (error) reject(error);
    else resolve();
  };
  worker.onmessage = ({ data }: MessageEvent<FlattenReply>) =>
    settle(data.error ? new BoxliteError(data.error.code ?? "internal", data.error.message) : undefined);
  worker.onerror = (event) => settle(new BoxliteError("internal", `the flatten thread failed: ${event.message}`));
  // A thread that ends on its own (a crash) would otherwise leave the export waiting forever.
  worker.addEventListener("close", () => settle(new BoxliteError("internal", "the flatten thread ended before its flatten")));
  worker.postMessage(request);
  return promise;
}

/**
 * Starts flattening `src` into the new file `scratch` (mode 0600; the caller removes it).
 * The size is planned on this thread, so a chain that cannot be read throws here, before
 * any thread starts. The chain must hold still until `written` settles.
 */
export function flattenThrough(src: string, scratch: string): FlatStream {
  const size = flattenedSize(src);
  const fd = openSync(scratch, "wx", 0o600);
  const state: { ended: boolean; error?: unknown } = { ended: false };
  const written = runWorker({ src, fd, size }).then(
    () => {
      state.ended = true;
    },
    (error: unknown) => {
      state.ended = true;
      state.error = error;
      throw error;
    },
  );
  const finished = written.finally(() => closeSync(fd));
  finished.catch(() => {}); // The caller sees the error through `written` and the chunks.
  return { size, chunks: follow(scratch, size, state, finished), written: finished };
}

/** The scratch file's bytes as they are written; bytes below its end are whole (the writes are sequential). */
async function* follow(path: string, size: number, state: { ended: boolean; error?: unknown }, finished: Promise<void>): AsyncGenerator<Uint8Array> {
  const handle = await open(path, "r");
  const settled = finished.catch(() => {});
  try {
    for (let position = 0; position < size; ) {
      const ended = state.ended; // Read before the file: an end seen after an empty read may hide the last bytes.
      const length = Math.min(READ_CHUNK, size - position);
      const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, position);
      if (bytesRead > 0) {
        position += bytesRead;
        yield buffer.subarray(0, bytesRead);
        continue;
      }
      if (state.error !== undefined) throw state.error;
      if (ended) throw new BoxliteError("internal", `the flattened image ${path} ended at ${position} of its ${size} bytes`);
      await Promise.race([settled, Bun.sleep(CATCH_UP_MS)]);
    }
    await finished; // The image is whole only once the flatten says so.
  } finally {
    await handle.close();
  }
}
