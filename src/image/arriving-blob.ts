/**
 * A blob that may still be arriving in the store: how many bytes its download has written
 * and whether it is whole and verified, in a SharedArrayBuffer that the downloading thread
 * writes and the layer thread reads, and a reader that follows the file as it grows. A
 * layer is so applied while it downloads; nothing is published from it unless its download
 * ends verified (the reader only ends then).
 */
import { open } from "node:fs/promises";
import { BoxliteError } from "../util/errors.ts";

/** Cells of the shared buffer: a change counter (waited on), the bytes written, the state. */
const CHANGES = 0;
const BYTES = 1;
const STATE = 2;
const STATES = ["arriving", "verified", "failed"] as const;
export type ArrivalState = (typeof STATES)[number];

/** Bytes read at a time: as decompress.ts hands them on. */
const READ_CHUNK = 256 * 1024;

/** The most a waiting reader sleeps before looking again, should a wake-up be missed. */
const WAKE_MS = 1000;

/** A blob's download as every thread sees it. */
export class ArrivalProgress {
  readonly #cells: BigInt64Array;

  /** A new record (nothing arrived yet), or one another thread made, from its buffer. */
  constructor(readonly shared = new SharedArrayBuffer(3 * BigInt64Array.BYTES_PER_ELEMENT)) {
    this.#cells = new BigInt64Array(shared);
  }

  /** A blob already whole in the store. */
  static verified(): ArrivalProgress {
    const progress = new ArrivalProgress();
    progress.settle("verified");
    return progress;
  }

  get changes(): number {
    return Number(Atomics.load(this.#cells, CHANGES));
  }

  get bytes(): number {
    return Number(Atomics.load(this.#cells, BYTES));
  }

  get state(): ArrivalState {
    return STATES[Number(Atomics.load(this.#cells, STATE))] ?? "failed";
  }

  /** The download has written `bytes` (fewer than before when it starts over). */
  wrote(bytes: number): void {
    Atomics.store(this.#cells, BYTES, BigInt(bytes));
    this.#changed();
  }

  settle(state: "verified" | "failed"): void {
    Atomics.store(this.#cells, STATE, BigInt(STATES.indexOf(state)));
    this.#changed();
  }

  /** Resolves once anything changes after `changes` was read (or after a while, to look again). */
  async waitForChange(changes: number): Promise<void> {
    const wait = Atomics.waitAsync(this.#cells, CHANGES, BigInt(changes), WAKE_MS);
    if (wait.async) await wait.value;
  }

  #changed(): void {
    Atomics.add(this.#cells, CHANGES, 1n);
    Atomics.notify(this.#cells, CHANGES);
  }
}

/** A layer blob in the store, whole or still arriving. */
export interface StoredBlob {
  /** Where the blob is once whole and verified. */
  path: string;
  /** Where it arrives until then (store.ts renames it to `path`). */
  partialPath: string;
  progress: ArrivalProgress;
  /** Resolves once the blob is whole and verified; rejects with its download's failure. */
  done: Promise<unknown>;
}

/** The blob's file; undefined while arriving if it was just renamed into place. One inode is written, resumed and renamed, so one handle follows it. */
async function openBlob(blob: { path: string; partialPath: string }, state: ArrivalState) {
  if (state === "verified") return await open(blob.path, "r");
  try {
    return await open(blob.partialPath, "r");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/**
 * The blob's bytes as they arrive: reads what the download has written, waits for more,
 * and ends only when the download ended verified. Throws when the download failed (the
 * download's own error is the caller's to report). A download that starts over rewrites the
 * same bytes, so what was read stays good; if it does not, verification fails.
 */
export async function* followBlob(blob: { path: string; partialPath: string }, progress: ArrivalProgress, source: string): AsyncGenerator<Uint8Array> {
  let handle: Awaited<ReturnType<typeof openBlob>>;
  let position = 0;
  try {
    for (;;) {
      const changes = progress.changes;
      const state = progress.state;
      if (state === "failed") throw new BoxliteError("registry", `${source}: the layer's download failed`);
      const available = state === "verified" ? Number.POSITIVE_INFINITY : progress.bytes;
      if (position < available) {
        handle ??= await openBlob(blob, state);
        if (handle) {
          const length = Math.min(READ_CHUNK, available - position);
          const { bytesRead, buffer } = await handle.read(Buffer.allocUnsafe(length), 0, length, position);
          if (bytesRead > 0) {
            position += bytesRead;
            yield buffer.subarray(0, bytesRead);
            continue;
          }
          if (state === "verified") return;
          // A short read while arriving: the download started over and truncated the file.
        }
      }
      await progress.waitForChange(changes);
    }
  } finally {
    await handle?.close();
  }
}
