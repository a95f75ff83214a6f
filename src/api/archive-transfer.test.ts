import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HttpError } from "./errors.ts";
import { receiveToFile, streamAndDelete } from "./archive-transfer.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-archive-transfer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function openFds(): number {
  return readdirSync("/proc/self/fd").length;
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    pull(controller) {
      const chunk = chunks.shift();
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

test("streamAndDelete removes the staging directory at once and still streams every byte of the file", async () => {
  const dir = mkdtempSync(join(root, "export-"));
  const bytes = crypto.getRandomValues(new Uint8Array(60_000)).slice();
  const big = new Uint8Array(2.5 * 1024 * 1024);
  for (let i = 0; i < big.length; i += bytes.length) big.set(bytes.subarray(0, Math.min(bytes.length, big.length - i)), i);
  writeFileSync(join(dir, "box.boxlite"), big);
  const before = openFds();
  const { stream, size } = streamAndDelete(join(dir, "box.boxlite"), dir);
  expect(existsSync(dir)).toBe(false);
  expect(size).toBe(big.length);
  const read = new Uint8Array(await new Response(stream).arrayBuffer());
  expect(read.length).toBe(big.length);
  expect(Buffer.compare(read, big)).toBe(0);
  expect(openFds()).toBe(before);
});

test("a cancelled stream closes its file", async () => {
  const dir = mkdtempSync(join(root, "export-"));
  writeFileSync(join(dir, "a.boxlite"), new Uint8Array(3 * 1024 * 1024));
  const before = openFds();
  const { stream } = streamAndDelete(join(dir, "a.boxlite"), dir);
  expect(openFds()).toBe(before + 1);
  const reader = stream.getReader();
  expect((await reader.read()).done).toBe(false);
  await reader.cancel();
  expect(openFds()).toBe(before);
});

test("receiveToFile writes the body and counts it; past the bound it is a 413, declared or not", async () => {
  const path = join(root, "upload-ok");
  expect(await receiveToFile(streamOf([new Uint8Array([1, 2]), new Uint8Array([3])]), undefined, path, 3)).toBe(3);
  expect([...readFileSync(path)]).toEqual([1, 2, 3]);
  const refuse = (promise: Promise<unknown>) =>
    promise.then(
      () => undefined,
      (error: unknown) => error,
    );
  const declared = await refuse(receiveToFile(streamOf([]), "4", join(root, "upload-declared"), 3));
  expect(declared).toBeInstanceOf(HttpError);
  expect((declared as HttpError).status).toBe(413);
  expect(existsSync(join(root, "upload-declared"))).toBe(false);
  const streamed = await refuse(receiveToFile(streamOf([new Uint8Array(2), new Uint8Array(2)]), undefined, join(root, "upload-long"), 3));
  expect((streamed as HttpError).status).toBe(413);
  expect(await receiveToFile(null, undefined, join(root, "upload-none"), 3)).toBe(0);
});
