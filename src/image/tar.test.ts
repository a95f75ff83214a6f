import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { readTarStream } from "./tar.ts";
import type { TarEntry } from "./tar.ts";
import { writeTar } from "./tar-writer.test-helper.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-tar-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

async function* inChunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

/** An entry with its content read whole, for assertions. */
type ReadEntry = Omit<TarEntry, "content"> & { data: Uint8Array };

/** Reads every entry of `archive`, fed in chunks of `chunkSize` bytes, content included. */
async function readAll(archive: Uint8Array, source: string, chunkSize = archive.length): Promise<ReadEntry[]> {
  const all: ReadEntry[] = [];
  for await (const { content, ...entry } of readTarStream(inChunks(archive, chunkSize), source)) {
    all.push({ ...entry, data: Buffer.concat(await Array.fromAsync(content)) });
  }
  return all;
}

const summary = (entries: ReadEntry[]) => entries.map((e) => ({ path: e.path, type: e.type, link: e.linkTarget, data: new TextDecoder().decode(e.data) }));

/** Builds an archive with GNU tar itself, so the reader is checked against a real writer. */
function gnuTar(format: "gnu" | "posix"): Uint8Array {
  const longDir = "d".repeat(120);
  mkdirSync(join(work, "src", longDir), { recursive: true });
  writeFileSync(join(work, "src", longDir, "file"), "long\n");
  writeFileSync(join(work, "src", "small"), "s");
  symlinkSync(`/${"t".repeat(150)}`, join(work, "src", "longlink"));
  const out = join(work, `${format}.tar`);
  const run = Bun.spawnSync(["tar", `--format=${format}`, "--sort=name", "-C", join(work, "src"), "-cf", out, "."]);
  expect(run.exitCode).toBe(0);
  return new Uint8Array(readFileSync(out));
}

test("reads GNU long names and long link targets from GNU tar", async () => {
  const entries = await readAll(gnuTar("gnu"), "gnu.tar");
  const file = entries.find((e) => e.path.endsWith("/file"));
  expect(file?.path).toBe(`./${"d".repeat(120)}/file`);
  expect(new TextDecoder().decode(file?.data)).toBe("long\n");
  expect(entries.find((e) => e.type === "symlink")?.linkTarget).toBe(`/${"t".repeat(150)}`);
});

test("reads pax long paths and link targets from GNU tar's posix format", async () => {
  const entries = await readAll(gnuTar("posix"), "posix.tar");
  expect(entries.some((e) => e.path === `./${"d".repeat(120)}/file`)).toBe(true);
  expect(entries.find((e) => e.type === "symlink")?.linkTarget).toBe(`/${"t".repeat(150)}`);
});

test("yields the same entries and contents whatever the chunk size", async () => {
  const archive = gnuTar("posix");
  const expected = summary(await readAll(archive, "a"));
  expect(expected.find((e) => e.path === "./small")?.data).toBe("s");
  for (const size of [1, 511, 512, 4096]) expect(summary(await readAll(archive, "a", size))).toEqual(expected);
});

test("pax records override the header's path, linkpath, uid, gid, mtime and carry xattrs", async () => {
  const archive = writeTar([
    {
      path: "short",
      type: "2",
      link: "old",
      uid: 1,
      gid: 1,
      mtime: 1,
      pax: { path: "long/path", linkpath: "new/target", uid: "70000", gid: "80000", mtime: "1700000000.5", "SCHILY.xattr.user.k": "v" },
    },
  ]);
  const [entry] = await readAll(archive, "pax");
  expect(entry).toMatchObject({
    path: "long/path",
    linkTarget: "new/target",
    uid: 70000,
    gid: 80000,
    mtime: 1_700_000_000.5,
    xattrs: { "user.k": new TextEncoder().encode("v") },
  });
});

test("keeps binary xattr values byte for byte and reads device numbers", async () => {
  // A security.capability value: not UTF-8, so decoding it as text would corrupt it.
  const capability = new Uint8Array([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const archive = writeTar([
    { path: "c", type: "3", devMajor: 136, devMinor: 4, pax: { "SCHILY.xattr.security.capability": capability, "SCHILY.xattr.user.e": "" } },
    { path: "b", type: "4", pax: { "SCHILY.devmajor": "4096", "SCHILY.devminor": "1048575" } },
  ]);
  const [char, block] = await readAll(archive, "dev");
  expect(char).toMatchObject({ type: "chardev", devMajor: 136, devMinor: 4, xattrs: { "security.capability": capability, "user.e": new Uint8Array(0) } });
  expect(block).toMatchObject({ type: "blockdev", devMajor: 4096, devMinor: 1_048_575 });
});

test("pax records apply to the next entry only", async () => {
  const entries = await readAll(writeTar([{ path: "a", pax: { path: "renamed" } }, { path: "b" }]), "pax");
  expect(entries.map((e) => e.path)).toEqual(["renamed", "b"]);
  expect(entries[1]?.xattrs).toEqual({});
});

test("refuses a header with a bad checksum, naming the source", async () => {
  const archive = writeTar([{ path: "a", data: "x" }]);
  archive[0] = "z".charCodeAt(0);
  await expect(readAll(archive, "sha256:bad")).rejects.toThrow(/sha256:bad: corrupt tar header at byte 0/);
});

/** Awaits a rejection and returns it as a BoxliteError, failing the test otherwise. */
async function rejection(promise: Promise<unknown>): Promise<BoxliteError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BoxliteError);
  return error as BoxliteError;
}

test("refuses a stream that ends inside a file's content, naming the entry", async () => {
  const archive = writeTar([{ path: "a", data: "x".repeat(2000) }]).subarray(0, 1024);
  const error = await rejection(readAll(archive, "sha256:cut", 100));
  expect(error.message).toBe('sha256:cut: tar entry "a" at byte 0 is truncated: the archive ends inside it');
});

test("refuses a stream that ends inside the padding or a header", async () => {
  const archive = writeTar([
    { path: "a", data: "x" },
    { path: "b", data: "y" },
  ]);
  expect((await rejection(readAll(archive.subarray(0, 600), "pad"))).message).toContain('pad: tar entry "a" at byte 0 is truncated');
  expect((await rejection(readAll(archive.subarray(0, 1100), "head"))).message).toContain("head: tar entry at byte 1024 is truncated");
});

test("skips whatever content the consumer leaves unread", async () => {
  const big = new Uint8Array(10_000).fill(7);
  const archive = writeTar([
    { path: "a", data: big },
    { path: "b", data: "bee" },
    { path: "c", data: big },
    { path: "d", data: "dee" },
  ]);
  const seen: string[] = [];
  for await (const entry of readTarStream(inChunks(archive, 1000), "skip")) {
    if (entry.path === "b" || entry.path === "d") {
      seen.push(`${entry.path}=${Buffer.concat(await Array.fromAsync(entry.content))}`);
      continue;
    }
    // a: its first piece only (the rest of the first 1000-byte chunk); c: nothing at all.
    const first = entry.path === "a" ? await entry.content[Symbol.asyncIterator]().next() : undefined;
    seen.push(`${entry.path}:${first?.value?.length ?? 0}`);
  }
  expect(seen).toEqual(["a:488", "b=bee", "c:0", "d=dee"]);
});

test("hands out content in pieces no bigger than the input's chunks", async () => {
  const data = new Uint8Array(1024 * 1024).map((_, i) => i % 251);
  const pieces: number[] = [];
  const parts: Uint8Array[] = [];
  for await (const entry of readTarStream(inChunks(writeTar([{ path: "f", data }]), 4096), "pieces")) {
    expect(entry.size).toBe(data.length);
    for await (const piece of entry.content) {
      pieces.push(piece.length);
      parts.push(piece.slice());
    }
  }
  expect(Math.max(...pieces)).toBe(4096);
  expect(Buffer.concat(parts).equals(data)).toBe(true);
});

test("refuses to read an entry's content after moving on to the next entry", async () => {
  const entries = readTarStream(
    inChunks(
      writeTar([
        { path: "a", data: "x".repeat(1000) },
        { path: "b", data: "y" },
      ]),
      100,
    ),
    "late",
  );
  const first = (await entries.next()).value as TarEntry;
  await entries.next();
  const error = await rejection(Array.fromAsync(first.content));
  expect(error.message).toContain('the content of "a" was read after the next entry');
});

test("refuses an extension header past 1 MiB rather than hold it", async () => {
  const archive = writeTar([{ path: "a", pax: { "SCHILY.xattr.user.big": "v".repeat(2 * 1024 * 1024) } }]);
  const error = await rejection(readAll(archive, "sha256:pax", 65536));
  expect(error.message).toMatch(/^sha256:pax: tar extension header at byte 0 holds \d+ bytes, past the limit of 1048576/);
});

test("types fifos and device nodes", async () => {
  const types = (
    await readAll(
      writeTar([
        { path: "c", type: "3" },
        { path: "f", type: "6" },
      ]),
      "dev",
    )
  ).map((e) => e.type);
  expect(types).toEqual(["chardev", "fifo"]);
});

test("refuses a pax uid that is not a number, naming the source", async () => {
  await expect(readAll(writeTar([{ path: "a", pax: { uid: "root" } }]), "sha256:pax")).rejects.toThrow(/sha256:pax: pax uid "root" is not a number/);
});

test("reads one sparse map from GNU tar's old-GNU and pax 0.0, 0.1 and 1.0 sparse formats", async () => {
  const file = join(work, "sparse");
  Bun.spawnSync(["truncate", "-s", "10M", file]);
  Bun.spawnSync(["dd", "if=/dev/urandom", `of=${file}`, "conv=notrunc", "bs=4096", "seek=50", "count=25", "status=none"]);
  const whole = readFileSync(file);
  const maps: unknown[] = [];
  for (const flags of [
    ["--format=gnu"],
    ["--format=posix", "--sparse-version=0.0"],
    ["--format=posix", "--sparse-version=0.1"],
    ["--format=posix", "--sparse-version=1.0"],
  ]) {
    const out = join(work, "sparse.tar");
    expect(Bun.spawnSync(["tar", ...flags, "--sparse", "-C", work, "-cf", out, "sparse"]).exitCode).toBe(0);
    const [entry] = await readAll(new Uint8Array(readFileSync(out)), flags.join(" "), 1000);
    expect({ flags, path: entry?.path, type: entry?.type }).toEqual({ flags, path: "sparse", type: "other" });
    expect(Buffer.compare(Buffer.from(entry?.data ?? []), whole.subarray(50 * 4096, 75 * 4096))).toBe(0);
    maps.push(entry?.sparse);
  }
  expect(maps[0]).toEqual({
    realSize: 10 * 1024 * 1024,
    segments: [
      { offset: 50 * 4096, length: 25 * 4096 },
      { offset: 10 * 1024 * 1024, length: 0 },
    ],
  });
  for (const map of maps) expect(map).toEqual(maps[0]);
});
