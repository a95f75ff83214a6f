/**
 * zstd frames for `.boxlite` archives: stored frames built here, and decompression through
 * the `zstd` command, whose decoder reports a stream that ends early (node:zlib's passes it
 * as a clean end). Compression happens in libqcow2 (pack-thread.ts), on every core.
 */
import { spawn, type Subprocess } from "bun";
import { BoxliteError } from "../util/errors.ts";

/** RFC 8878 frame magic, little-endian 0xFD2FB528. */
export const ZSTD_MAGIC = Uint8Array.of(0x28, 0xb5, 0x2f, 0xfd);

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
