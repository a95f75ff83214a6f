/**
 * zstd through the `zstd` command, over pipes. In-process zstd (node:zlib in Bun 1.4)
 * compresses on one thread only (its nbWorkers parameter crashes the stream), which made an
 * export slower than `tar --zstd`; `zstd -T0` uses every core. Its decoder also reports a
 * stream that ends early, which node:zlib's passes as a clean end. docs/archive.md has the numbers.
 */
import { spawn, type Subprocess } from "bun";
import { BoxliteError } from "../util/errors.ts";

/** RFC 8878 frame magic, little-endian 0xFD2FB528. */
export const ZSTD_MAGIC = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd);

/** The reference's export level. */
export const ZSTD_LEVEL = 3;

export function isZstd(head: Uint8Array): boolean {
  return ZSTD_MAGIC.every((byte, i) => head[i] === byte);
}

function spawnZstd<T>(start: () => T): T {
  try {
    return start();
  } catch (error) {
    throw new BoxliteError("missing_dependency", "cannot run zstd (the .boxlite archive compressor): install the zstd package", { cause: error });
  }
}

async function failure(child: Subprocess<"ignore" | "pipe", "pipe" | number, "pipe">, what: string): Promise<BoxliteError | undefined> {
  const code = await child.exited;
  if (code === 0) return undefined;
  const stderr = (await new Response(child.stderr).text()).trim().split("\n").slice(-3).join("; ");
  return new BoxliteError("invalid_argument", `${what}: zstd exited with ${code}${stderr ? `: ${stderr}` : ""}`);
}

/** A compression running in its own process: wait for it, or stop it after a failure elsewhere. */
export interface Compression {
  /** Resolves when zstd has written the whole frame; throws a BoxliteError when it failed. */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * Compresses the file at `path` as one zstd frame (level 3, all cores) appended at the open
 * file `fd`'s offset. zstd reads the file itself: no byte of it passes through this process,
 * which leaves this thread free to hash the same file meanwhile (docs/archive.md has the numbers).
 */
export function compressFileInto(path: string, fd: number): Compression {
  const child = spawnZstd(() => spawn(["zstd", "-q", `-${ZSTD_LEVEL}`, "-T0", "-c", "--", path], { stdin: "ignore", stdout: fd, stderr: "pipe" }));
  return {
    done: failure(child, `cannot compress ${path}`).then((failed) => {
      if (failed) throw new BoxliteError("disk", failed.message);
    }),
    stop: async () => {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** A compression fed through zstd's stdin, for content that is still being made. */
export interface StreamCompression extends Compression {
  /** Hands `chunk` to zstd; resolves once the pipe took it (so memory stays at a chunk or two). */
  write(chunk: Uint8Array): Promise<void>;
  /** Closes zstd's input, which ends the frame; `done` then resolves. */
  end(): Promise<void>;
}

/**
 * Compresses what is written to it as one zstd frame (level 3, all cores) appended at the
 * open file `fd`'s offset. For content still being made (an export's flatten), which zstd
 * cannot read as a file; compressing it here in 4 MiB frames on Bun's thread pool instead
 * was slower beside a running box (docs/archive.md).
 */
export function compressStreamInto(fd: number, what: string): StreamCompression {
  const child = spawnZstd(() => spawn(["zstd", "-q", `-${ZSTD_LEVEL}`, "-T0", "-c"], { stdin: "pipe", stdout: fd, stderr: "pipe" }));
  const done = failure(child, `cannot compress ${what}`).then((failed) => {
    if (failed) throw new BoxliteError("disk", failed.message);
  });
  done.catch(() => {}); // Reported where `done` is awaited; a write into a dead zstd fails too.
  return {
    write: async (chunk) => {
      child.stdin.write(chunk);
      await child.stdin.flush();
    },
    end: async () => {
      await child.stdin.end();
    },
    done,
    stop: async () => {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}

/** zstd's largest block (RFC 8878 Block_Maximum_Size). */
const MAX_BLOCK = 128 * 1024;

/**
 * `content` as one zstd frame of raw (stored) blocks: its size is known before the content
 * is, which lets an export reserve room for the manifest at the front and fill it in last.
 * Header: magic, a descriptor of single segment with a 4-byte content size, then blocks.
 */
export function storedFrame(content: Uint8Array): Uint8Array {
  const blocks = Math.max(1, Math.ceil(content.length / MAX_BLOCK));
  const frame = new Uint8Array(4 + 1 + 4 + blocks * 3 + content.length);
  const view = new DataView(frame.buffer);
  frame.set(ZSTD_MAGIC, 0);
  frame[4] = 0xa0; // Frame_Content_Size_flag 2 (4 bytes), Single_Segment_flag: no window descriptor.
  view.setUint32(5, content.length, true);
  let at = 9;
  for (let i = 0; i < blocks; i++) {
    const piece = content.subarray(i * MAX_BLOCK, (i + 1) * MAX_BLOCK);
    const header = (piece.length << 3) | (i === blocks - 1 ? 1 : 0); // Block_Type 0: raw.
    frame[at] = header & 0xff;
    frame[at + 1] = (header >> 8) & 0xff;
    frame[at + 2] = (header >> 16) & 0xff;
    frame.set(piece, at + 3);
    at += 3 + piece.length;
  }
  return frame;
}

/** A running decompression: its output, and how it ended. */
export interface Decompression {
  chunks: AsyncIterable<Uint8Array>;
  /** Waits for zstd to exit (call it once its output has ended); returns its complaint when the stream was corrupt or cut short. */
  finish(): Promise<BoxliteError | undefined>;
  /** Stops zstd early, after a refusal made before its output ended. */
  stop(): Promise<void>;
}

/** Decompresses the file at `path`; zstd refuses frames needing more than its default 128 MiB window. */
export function decompressFile(path: string, source: string): Decompression {
  const child = spawnZstd(() => spawn(["zstd", "-q", "-d", "-c", "--", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" }));
  let outcome: Promise<BoxliteError | undefined> | undefined;
  return {
    chunks: child.stdout,
    finish: () => {
      outcome ??= failure(child, `${source}: the zstd stream is corrupt or truncated`);
      return outcome;
    },
    stop: async () => {
      child.kill("SIGKILL");
      await child.exited;
    },
  };
}
