/**
 * Box archives through the server's disk: an uploaded body is written to a staging
 * directory under the home's tmp/ (bounded, since it comes from a client), and an
 * exported file is answered as a stream that leaves nothing behind. Both keep the home's
 * filesystem, so the runtime can rename or reflink from there.
 */
import { closeSync, fstatSync, mkdirSync, mkdtempSync, openSync, readSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { payloadTooLarge } from "./errors.ts";

/** Reads of an exported archive, in bytes. */
const CHUNK_BYTES = 1024 * 1024;

/** A fresh directory under `<home>/tmp/` for one request; the caller removes it. */
export function makeStagingDir(config: Readonly<Config>, prefix: string): string {
  const root = join(config.home, "tmp");
  mkdirSync(root, { recursive: true });
  // The pid in the name lets opening the home sweep what a crashed server left (home.ts).
  return mkdtempSync(join(root, `${prefix}-${process.pid}-`));
}

/**
 * Writes `body` to `path`, refusing (413) past `limit` bytes: a declared Content-Length
 * before anything is read, a body that runs over as soon as it does.
 */
export async function receiveToFile(body: ReadableStream<Uint8Array> | null, declaredLength: string | undefined, path: string, limit: number): Promise<number> {
  if (declaredLength !== undefined && Number(declaredLength) > limit) throw payloadTooLarge(limit);
  const sink = Bun.file(path).writer();
  let total = 0;
  try {
    if (body !== null) {
      for await (const chunk of body) {
        total += chunk.byteLength;
        if (total > limit) throw payloadTooLarge(limit);
        sink.write(chunk);
        await sink.flush();
      }
    }
  } finally {
    await sink.end();
  }
  return total;
}

/**
 * A stream of the file at `path`, which is unlinked (with `dir`, its staging directory)
 * as soon as it is open: the open descriptor keeps the bytes readable, and nothing stays
 * on disk whether the client reads it all, goes away, or the server dies meanwhile.
 */
export function streamAndDelete(path: string, dir: string): { stream: ReadableStream<Uint8Array>; size: number } {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const size = fstatSync(fd).size;
  let open = true;
  const close = () => {
    if (!open) return;
    open = false;
    closeSync(fd);
  };
  const stream = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull(controller) {
      const buffer = new Uint8Array(CHUNK_BYTES);
      let read: number;
      try {
        read = readSync(fd, buffer, 0, CHUNK_BYTES, null);
      } catch (error) {
        close();
        throw error;
      }
      if (read === 0) {
        close();
        controller.close();
        return;
      }
      controller.enqueue(buffer.subarray(0, read));
    },
    cancel: close,
  });
  return { stream, size };
}
