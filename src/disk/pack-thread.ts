/**
 * Packs an archive member on a worker thread (pack-worker.ts): a backing chain flattened,
 * or a file, hashed and compressed as one zstd frame straight into the archive by
 * libqcow2 (ffi/qcow2/zpack.c), a blocking call that must not hold up this thread's
 * event loop. One worker per member, which ends with it.
 */
import { availableParallelism } from "node:os";
import { BoxliteError, type ErrorCode } from "../util/errors.ts";
import { askWorker } from "../util/one-worker.ts";
import { workerUrl } from "../util/self.ts";
import type { Compression } from "./qcow2.ts";

/** What to pack: the chain at `chain` (flattened: `size` is its `flattenedSize`), or the first `size` bytes of the file at `file`. */
export type PackSource = { chain: string; size: number } | { file: string; size: number };

/** What the main thread asks: pack `source` at descriptor `fd`'s offset. */
export interface PackRequest {
  source: PackSource;
  fd: number;
  compression: Compression;
}

/** The worker's answer: the member's checksum ("sha256:<hex>"), or the error (a BoxliteError keeps its code). */
export interface PackReply {
  checksum?: string;
  error?: { code?: ErrorCode; message: string };
}

/** The reference's export level. */
export const ZSTD_LEVEL = 3;

/**
 * As `zstd -T0`, a compressing thread per core, but at most 8: each holds a job's buffers
 * (some 16 MiB at level 3), and past a few threads the reading and the hash set the pace.
 */
const COMPRESSION: Compression = { level: ZSTD_LEVEL, workers: Math.min(availableParallelism(), 8) };

/**
 * Appends `source` as one zstd frame at the open descriptor `fd`'s offset and resolves
 * with its uncompressed bytes' checksum. A chain must hold still until this settles.
 */
export function packInto(source: PackSource, fd: number): Promise<string> {
  return askWorker(
    workerUrl("disk/pack-worker.ts"),
    { source, fd, compression: COMPRESSION } satisfies PackRequest,
    "the packing thread",
    (reply: PackReply) => reply.checksum ?? new BoxliteError(reply.error?.code ?? "internal", reply.error?.message ?? "the packing thread answered nothing"),
  );
}
