import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { readTar, readTarStream } from "./tar.ts";
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

async function collect(entries: AsyncIterable<TarEntry>): Promise<TarEntry[]> {
  const all: TarEntry[] = [];
  for await (const entry of entries) all.push(entry);
  return all;
}

const summary = (entries: TarEntry[]) => entries.map((e) => ({ path: e.path, type: e.type, link: e.linkTarget, data: new TextDecoder().decode(e.data) }));

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

test("reads GNU long names and long link targets from GNU tar", () => {
  const entries = [...readTar(gnuTar("gnu"), "gnu.tar")];
  const file = entries.find((e) => e.path.endsWith("/file"));
  expect(file?.path).toBe(`./${"d".repeat(120)}/file`);
  expect(new TextDecoder().decode(file?.data)).toBe("long\n");
  expect(entries.find((e) => e.type === "symlink")?.linkTarget).toBe(`/${"t".repeat(150)}`);
});

test("reads pax long paths and link targets from GNU tar's posix format", () => {
  const entries = [...readTar(gnuTar("posix"), "posix.tar")];
  expect(entries.some((e) => e.path === `./${"d".repeat(120)}/file`)).toBe(true);
  expect(entries.find((e) => e.type === "symlink")?.linkTarget).toBe(`/${"t".repeat(150)}`);
});

test("the streaming reader yields the same entries as the in-memory one, whatever the chunk size", async () => {
  const archive = gnuTar("posix");
  const expected = summary([...readTar(archive, "a")]);
  for (const size of [1, 511, 512, 4096, archive.length]) expect(summary(await collect(readTarStream(inChunks(archive, size), "a")))).toEqual(expected);
});

test("pax records override the header's path, linkpath, uid, gid, mtime and carry xattrs", () => {
  const archive = writeTar([{
    path: "short",
    type: "2",
    link: "old",
    uid: 1,
    gid: 1,
    mtime: 1,
    pax: { path: "long/path", linkpath: "new/target", uid: "70000", gid: "80000", mtime: "1700000000.5", "SCHILY.xattr.user.k": "v" },
  }]);
  const [entry] = [...readTar(archive, "pax")];
  expect(entry).toMatchObject({ path: "long/path", linkTarget: "new/target", uid: 70000, gid: 80000, mtime: 1_700_000_000.5, xattrs: { "user.k": new TextEncoder().encode("v") } });
});

test("keeps binary xattr values byte for byte and reads device numbers", () => {
  // A security.capability value: not UTF-8, so decoding it as text would corrupt it.
  const capability = new Uint8Array([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0xff, 0xfe, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  const archive = writeTar([{ path: "c", type: "3", devMajor: 136, devMinor: 4, pax: { "SCHILY.xattr.security.capability": capability, "SCHILY.xattr.user.e": "" } }, { path: "b", type: "4", pax: { "SCHILY.devmajor": "4096", "SCHILY.devminor": "1048575" } }]);
  const [char, block] = [...readTar(archive, "dev")];
  expect(char).toMatchObject({ type: "chardev", devMajor: 136, devMinor: 4, xattrs: { "security.capability": capability, "user.e": new Uint8Array(0) } });
  expect(block).toMatchObject({ type: "blockdev", devMajor: 4096, devMinor: 1_048_575 });
});

test("pax records apply to the next entry only", () => {
  const entries = [...readTar(writeTar([{ path: "a", pax: { path: "renamed" } }, { path: "b" }]), "pax")];
  expect(entries.map((e) => e.path)).toEqual(["renamed", "b"]);
  expect(entries[1]?.xattrs).toEqual({});
});

test("refuses a header with a bad checksum, naming the source", () => {
  const archive = writeTar([{ path: "a", data: "x" }]);
  archive[0] = "z".charCodeAt(0);
  expect(() => [...readTar(archive, "sha256:bad")]).toThrow(/sha256:bad: corrupt tar header/);
});

test("refuses a stream that ends inside an entry", async () => {
  const archive = writeTar([{ path: "a", data: "x".repeat(2000) }]).subarray(0, 1024);
  const error = await collect(readTarStream(inChunks(archive, 100), "sha256:cut")).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).message).toContain("sha256:cut");
});

test("types fifos and device nodes", () => {
  const types = [...readTar(writeTar([{ path: "c", type: "3" }, { path: "f", type: "6" }]), "dev")].map((e) => e.type);
  expect(types).toEqual(["chardev", "fifo"]);
});

test("refuses a pax uid that is not a number, naming the source", () => {
  expect(() => [...readTar(writeTar([{ path: "a", pax: { uid: "root" } }]), "sha256:pax")]).toThrow(/sha256:pax: pax uid "root" is not a number/);
});
