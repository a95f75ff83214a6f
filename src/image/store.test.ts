import { afterEach, beforeEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { rejectionOf } from "../../test/helpers/errors.ts";
import { type BlobFetcher, BlobStore } from "./store.ts";

let dir: string;
let store: BlobStore;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "boxlite-store-"));
  store = new BlobStore(dir);
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const blob = new Uint8Array(300_000).map((_, i) => (i * 7) % 251);
const digest = `sha256:${new Bun.CryptoHasher("sha256").update(blob).digest("hex")}`;

async function* chunks(bytes: Uint8Array, size = 64 * 1024, breakAfter?: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) {
    if (breakAfter !== undefined && at >= breakAfter) throw new Error("connection reset");
    yield bytes.subarray(at, Math.min(at + size, bytes.length));
  }
}

/** Serves `blob` honouring the range, breaking the first `breaks` bodies after 100 KB; records offsets asked for. */
function server(options: { breaks?: number; ignoreRange?: boolean; content?: Uint8Array } = {}): { fetch: BlobFetcher; offsets: number[] } {
  const offsets: number[] = [];
  let breaks = options.breaks ?? 0;
  const content = options.content ?? blob;
  return {
    offsets,
    fetch: async (offset) => {
      offsets.push(offset);
      const start = options.ignoreRange ? 0 : offset;
      const breakAfter = breaks-- > 0 ? 100_000 : undefined;
      return { body: chunks(content.subarray(start), 64 * 1024, breakAfter), offset: start };
    },
  };
}

test("a blob is stored under its digest only when whole and verified", async () => {
  const source = server();
  const path = await store.fetch("layers", digest, { size: blob.length, fetch: source.fetch });
  expect(path).toBe(join(dir, "layers", `sha256-${digest.slice(7)}`));
  expect(await Bun.file(path).bytes()).toEqual(blob);
  // Present now: no fetch at all.
  await store.fetch("layers", digest, { size: blob.length, fetch: source.fetch });
  expect(source.offsets).toEqual([0]);
});

test("a body that breaks off is resumed from where it stopped, and the whole is verified", async () => {
  const source = server({ breaks: 1 });
  const progress: number[] = [];
  await store.fetch("layers", digest, { size: blob.length, fetch: source.fetch, onProgress: (bytes) => progress.push(bytes) });
  expect(source.offsets).toEqual([0, 131072]);
  expect(progress.at(-1)).toBe(blob.length);
  expect(await Bun.file(store.path("layers", digest)).bytes()).toEqual(blob);
});

test("a download that keeps breaking fails with the first cause, keeps the partial file, and a later fetch resumes it", async () => {
  const failing = server({ breaks: 5 });
  const error = await rejectionOf(store.fetch("layers", digest, { size: blob.length, fetch: failing.fetch, attempts: 2 }));
  expect(error.code).toBe("registry");
  expect(error.message).toContain(`the download of blob ${digest} broke off after`);
  expect(store.has("layers", digest)).toBe(false);
  expect(existsSync(`${store.path("layers", digest)}.partial`)).toBe(true);
  const later = server();
  await store.fetch("layers", digest, { size: blob.length, fetch: later.fetch });
  expect(later.offsets[0]).toBeGreaterThan(0);
  expect(await Bun.file(store.path("layers", digest)).bytes()).toEqual(blob);
});

test("a server that ignores the range restarts the blob, hashed afresh", async () => {
  const first = server({ breaks: 1, ignoreRange: true });
  await store.fetch("layers", digest, { size: blob.length, fetch: first.fetch });
  expect(first.offsets).toEqual([0, 131072]);
  expect(await Bun.file(store.path("layers", digest)).bytes()).toEqual(blob);
});

test("content that does not match its digest is discarded, nothing is kept", async () => {
  const wrong = blob.slice();
  wrong[1000] = (wrong[1000] ?? 0) ^ 0xff;
  const error = await rejectionOf(store.fetch("layers", digest, { size: blob.length, fetch: server({ content: wrong }).fetch }));
  expect(error.message).toMatch(new RegExp(`blob ${digest} arrived with content sha256:[a-f0-9]{64} \\(digest mismatch\\)`));
  expect(readdirSync(join(dir, "layers")).filter((name) => !name.endsWith(".lock"))).toEqual([]);
});

test("a short body is a truncation, a long one is refused", async () => {
  const short = await rejectionOf(store.fetch("layers", digest, { size: blob.length, fetch: server({ content: blob.subarray(0, 1000) }).fetch, attempts: 1 }));
  expect(short.message).toContain(`blob ${digest} ended after 1000 of ${blob.length} bytes (truncated)`);
  rmSync(join(dir, "layers"), { recursive: true });
  const long = await rejectionOf(store.fetch("layers", digest, { size: blob.length - 10, fetch: server().fetch }));
  expect(long.message).toContain(`is longer than the ${blob.length - 10} bytes its descriptor says`);
  expect(store.has("layers", digest)).toBe(false);
});

test("concurrent requests for one blob share one download", async () => {
  const source = server();
  const paths = await Promise.all([1, 2, 3].map(() => store.fetch("layers", digest, { size: blob.length, fetch: source.fetch })));
  expect(new Set(paths).size).toBe(1);
  expect(source.offsets).toEqual([0]);
});

test("put checks the digest of small blobs", async () => {
  const config = new TextEncoder().encode('{"a":1}');
  const configDigest = `sha256:${new Bun.CryptoHasher("sha256").update(config).digest("hex")}`;
  store.put("configs", configDigest, config);
  expect(store.read("configs", configDigest)).toEqual(config);
  expect(() => store.put("configs", digest, config)).toThrow(/arrived with content/);
  expect(() => store.path("layers", "sha256:../../etc")).toThrow(/is not a sha256 digest/);
});
