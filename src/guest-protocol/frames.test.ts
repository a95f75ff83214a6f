import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { encodeFrame, FrameDecoder, FrameError, FrameType, HEADER_SIZE, MAX_PAYLOAD } from "./frames.ts";

const VECTORS = join(import.meta.dir, "..", "..", "test", "fixtures", "guest-protocol", "vectors.tsv");

function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, "hex"));
}

function decodeFirst(bytes: Uint8Array): string {
  try {
    const [frame] = new FrameDecoder().push(bytes);
    if (!frame) return "incomplete";
    const payload = frame.payload.length ? Buffer.from(frame.payload).toString("hex") : "-";
    return `ok ${frame.type} ${frame.stream} ${payload}`;
  } catch (error) {
    if (error instanceof FrameError) return `error ${error.code}`;
    throw error;
  }
}

describe("golden vectors", async () => {
  const lines = (await Bun.file(VECTORS).text()).split("\n").filter((line) => line && !line.startsWith("#"));
  test("the vector file is not empty", () => expect(lines.length).toBeGreaterThan(15));
  for (const line of lines) {
    const [name, hex, expected] = line.split("\t") as [string, string, string];
    test(`decodes vector ${name}`, () => expect(decodeFirst(fromHex(hex))).toBe(expected));
  }
});

describe("FrameDecoder", () => {
  test("reassembles frames delivered one byte at a time", () => {
    const payload = new Uint8Array(1000).map((_, i) => i % 251);
    const wire = new Uint8Array([...encodeFrame(FrameType.STDOUT, 5, payload), ...encodeFrame(FrameType.SHUTDOWN, 0)]);
    const decoder = new FrameDecoder();
    const frames = [...wire].flatMap((byte) => decoder.push(new Uint8Array([byte])));
    expect(frames.map((f) => [f.type, f.stream, f.payload.length])).toEqual([
      [FrameType.STDOUT, 5, 1000],
      [FrameType.SHUTDOWN, 0, 0],
    ]);
    expect(frames[0]?.payload).toEqual(payload);
  });

  test("rejects an oversized frame from its header alone, before buffering its payload", () => {
    const header = new Uint8Array(HEADER_SIZE);
    new DataView(header.buffer).setUint32(0, MAX_PAYLOAD + 1);
    new DataView(header.buffer).setUint32(4, 1);
    header[8] = FrameType.STDOUT;
    expect(() => new FrameDecoder().push(header)).toThrow(FrameError);
  });

  test("random bytes only ever produce frames or a FrameError", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    for (let round = 0; round < 5000; round++) {
      const bytes = new Uint8Array(Math.floor(random() * 64)).map(() => Math.floor(random() * 256));
      if (bytes.length > 8 && random() < 0.5) bytes[8] = [1, 2, 3, 4, 0x10, 0x11, 0x13, 0x3f][Math.floor(random() * 8)] as number;
      try {
        new FrameDecoder().push(bytes);
      } catch (error) {
        expect(error).toBeInstanceOf(FrameError);
      }
    }
  });
});

test("encodeFrame refuses a payload above the limit", () => {
  expect(() => encodeFrame(FrameType.STDIN, 1, new Uint8Array(MAX_PAYLOAD + 1))).toThrow(FrameError);
});

test("ATTACH, START, PAUSE, UNPAUSE and SUSPEND_BOX decode only on a box socket; elsewhere they are unknown types, as to the guest", () => {
  for (const [type, stream] of [
    [FrameType.ATTACH, 3],
    [FrameType.START, 0],
    [FrameType.PAUSE, 4],
    [FrameType.UNPAUSE, 5],
    [FrameType.SUSPEND_BOX, 6],
  ] as const) {
    const wire = encodeFrame(type, stream, type === FrameType.START ? undefined : new TextEncoder().encode("{}"));
    expect(() => new FrameDecoder().push(wire)).toThrow(expect.objectContaining({ code: "bad_type" }));
    expect(new FrameDecoder({ boxSocket: true }).push(wire).map((frame) => [frame.type, frame.stream])).toEqual([[type, stream]]);
  }
  // ATTACH is a command stream's, START the channel's.
  expect(() => new FrameDecoder({ boxSocket: true }).push(encodeFrame(FrameType.ATTACH, 0))).toThrow(expect.objectContaining({ code: "bad_stream" }));
  expect(() => new FrameDecoder({ boxSocket: true }).push(encodeFrame(FrameType.START, 1))).toThrow(expect.objectContaining({ code: "bad_stream" }));
  // PAUSE and UNPAUSE are answered on the stream that asked: a command stream's too.
  for (const type of [FrameType.PAUSE, FrameType.UNPAUSE, FrameType.SUSPEND_BOX])
    expect(() => new FrameDecoder({ boxSocket: true }).push(encodeFrame(type, 0))).toThrow(expect.objectContaining({ code: "bad_stream" }));
});
