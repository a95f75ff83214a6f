import { afterEach, beforeEach, expect, test } from "bun:test";
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ArrivalProgress, followBlob } from "./arriving-blob.ts";

let work: string;
let blob: { path: string; partialPath: string };
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-arriving-"));
  blob = { path: join(work, "blob"), partialPath: join(work, "blob.partial") };
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const text = (chunk: IteratorResult<Uint8Array>) => (chunk.done ? "(end)" : Buffer.from(chunk.value).toString());

/** A download that has written "abc", and a reader that has read it. */
async function readingAbc() {
  const progress = new ArrivalProgress();
  const reader = followBlob(blob, progress, "sha256:layer");
  writeFileSync(blob.partialPath, "abc");
  progress.wrote(3);
  expect(text(await reader.next())).toBe("abc");
  return { progress, reader };
}

test("yields the bytes as the download writes them, and ends only once the blob is verified and renamed into place", async () => {
  const { progress, reader } = await readingAbc();
  const next = reader.next();
  appendFileSync(blob.partialPath, "def");
  progress.wrote(6);
  expect(text(await next)).toBe("def");
  const end = reader.next();
  renameSync(blob.partialPath, blob.path);
  progress.settle("verified");
  expect(text(await end)).toBe("(end)");
});

test("a download that starts over (a server that ignored the range) is read once, whole", async () => {
  const { progress, reader } = await readingAbc();
  truncateSync(blob.partialPath, 0);
  progress.wrote(0);
  const next = reader.next();
  appendFileSync(blob.partialPath, "ab");
  progress.wrote(2);
  appendFileSync(blob.partialPath, "cdef");
  progress.wrote(6);
  expect(text(await next)).toBe("def");
  renameSync(blob.partialPath, blob.path);
  progress.settle("verified");
  expect(text(await reader.next())).toBe("(end)");
});

test("a blob already whole is read from its place", async () => {
  writeFileSync(blob.path, "whole");
  const chunks: string[] = [];
  for await (const chunk of followBlob(blob, ArrivalProgress.verified(), "sha256:layer")) chunks.push(Buffer.from(chunk).toString());
  expect(chunks.join("")).toBe("whole");
});

test("a failed download ends the reading with an error naming the layer", async () => {
  const { progress, reader } = await readingAbc();
  const next = reader.next();
  progress.settle("failed");
  await expect(next).rejects.toThrow("sha256:layer: the layer's download failed");
});

test("the progress is shared: a copy made from its buffer, as another thread makes one, sees every change", () => {
  const progress = new ArrivalProgress();
  const seen = new ArrivalProgress(progress.shared);
  progress.wrote(42);
  progress.settle("verified");
  expect({ bytes: seen.bytes, state: seen.state, changes: seen.changes }).toEqual({ bytes: 42, state: "verified", changes: 2 });
});
