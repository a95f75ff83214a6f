import { expect, test } from "bun:test";
import { BoxliteError } from "../util/errors.ts";
import { decompressLayer, detectCompression } from "./decompress.ts";
import type { DecompressOptions } from "./decompress.ts";

const payload = new TextEncoder().encode("layer bytes ".repeat(1000));

async function drain(input: Uint8Array, options: DecompressOptions): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of decompressLayer(input, options)) parts.push(chunk);
  return Buffer.concat(parts);
}

test("tells gzip, zstd and plain tar apart by their first bytes", () => {
  expect(detectCompression(Bun.gzipSync(payload))).toBe("gzip");
  expect(detectCompression(Bun.zstdCompressSync(payload))).toBe("zstd");
  expect(detectCompression(payload)).toBe("none");
  expect(detectCompression(new Uint8Array(0))).toBe("none");
});

test("round-trips each format to the same bytes", async () => {
  for (const input of [payload, Bun.gzipSync(payload), Bun.zstdCompressSync(payload)]) {
    expect(await drain(input, { source: "l" })).toEqual(payload);
  }
});

test("allows a layer of exactly the limit and refuses one byte more", async () => {
  expect((await drain(Bun.zstdCompressSync(payload), { source: "l", maxBytes: payload.length })).length).toBe(payload.length);
  const error = await drain(Bun.zstdCompressSync(payload), { source: "sha256:big", maxBytes: payload.length - 1 }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).message).toContain(`sha256:big: layer expands past the limit of ${payload.length - 1} bytes`);
});

test("refuses a corrupt zstd stream, naming the layer", async () => {
  const broken = Bun.zstdCompressSync(payload);
  broken.fill(0xff, 6);
  const error = await drain(broken, { source: "sha256:junk" }).catch((caught: unknown) => caught);
  expect((error as BoxliteError).code).toBe("invalid_argument");
  expect((error as BoxliteError).message).toContain("sha256:junk");
});
