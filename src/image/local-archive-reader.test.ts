import { afterEach, beforeEach, expect, test } from "bun:test";
import { linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ArchiveReader, directoryReader, indexTar, tarReader } from "./local-archive-reader.ts";
import { writeTar } from "./tar-writer.test-helper.ts";
import { rejectionOf } from "../../test/helpers/errors.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-archive-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const longDir = "d".repeat(120);
const payload = new Uint8Array(70_000).map((_, i) => (i * 7) & 0xff);

/** A tree with a long name, a relative symlink (as skopeo writes) and a hard link. */
function makeTree(): string {
  const src = join(work, "src");
  mkdirSync(join(src, longDir), { recursive: true });
  mkdirSync(join(src, "id"));
  writeFileSync(join(src, longDir, "blob.tar"), payload);
  writeFileSync(join(src, "manifest.json"), "[]");
  symlinkSync(`../${longDir}/blob.tar`, join(src, "id", "layer.tar"));
  linkSync(join(src, "manifest.json"), join(src, "hard.json"));
  return src;
}

/** Builds the archive with GNU tar itself, so the indexer is checked against a real writer. */
function gnuTar(format: "gnu" | "posix"): string {
  const out = join(work, `${format}.tar`);
  const run = Bun.spawnSync(["tar", `--format=${format}`, "--sort=name", "-C", makeTree(), "-cf", out, "."]);
  expect(run.exitCode).toBe(0);
  return out;
}

async function read(reader: ArchiveReader, path: string): Promise<{ path: string; bytes: Uint8Array } | undefined> {
  const member = await reader.member(path.split("/"), "test");
  if (member === undefined) return undefined;
  const bytes = new Uint8Array(await member.blob().arrayBuffer());
  expect(bytes.length).toBe(member.size);
  return { path: member.path, bytes };
}

for (const format of ["gnu", "posix"] as const) {
  test(`indexes a GNU tar ${format} archive: long names, symlinks and hard links, members byte-exact`, async () => {
    const reader = await tarReader(gnuTar(format));
    expect(await read(reader, `${longDir}/blob.tar`)).toEqual({ path: `${longDir}/blob.tar`, bytes: payload });
    expect(await read(reader, "id/layer.tar")).toEqual({ path: `${longDir}/blob.tar`, bytes: payload });
    // --sort=name stores hard.json first, so manifest.json is the hard link to it.
    expect((await read(reader, "manifest.json"))?.bytes).toEqual(new TextEncoder().encode("[]"));
    expect((await read(reader, "hard.json"))?.bytes).toEqual(new TextEncoder().encode("[]"));
    expect(await read(reader, "absent")).toBeUndefined();
  });
}

test("an extracted directory reads the same members", async () => {
  const reader = await directoryReader(makeTree());
  expect(await read(reader, "id/layer.tar")).toEqual({ path: `${longDir}/blob.tar`, bytes: payload });
  expect(await read(reader, "absent")).toBeUndefined();
});

test("links out of the archive and link loops are refused", async () => {
  const archive = join(work, "links.tar");
  writeFileSync(
    archive,
    writeTar([
      { path: "up", type: "2", link: "../outside" },
      { path: "abs", type: "2", link: "/etc/passwd" },
      { path: "a", type: "2", link: "b" },
      { path: "b", type: "2", link: "a" },
      { path: "dir", type: "5" },
    ]),
  );
  const reader = await tarReader(archive);
  expect((await rejectionOf(reader.member(["up"], "t"))).message).toContain("leaves the archive");
  expect((await rejectionOf(reader.member(["abs"], "t"))).message).toContain("absolute path");
  expect((await rejectionOf(reader.member(["a"], "t"))).message).toContain("too many links");
  expect((await rejectionOf(reader.member(["dir"], "t"))).message).toContain("not a regular file");
});

test("a file that is not a tar, or a truncated tar, is refused", async () => {
  writeFileSync(join(work, "short"), "tiny");
  expect((await rejectionOf(indexTar(join(work, "short")))).message).toContain("is not a tar archive");
  writeFileSync(join(work, "text"), "x".repeat(2048));
  expect((await rejectionOf(indexTar(join(work, "text")))).message).toContain("is not a tar archive");
  const whole = writeTar([{ path: "big", data: payload }]);
  writeFileSync(join(work, "cut.tar"), whole.subarray(0, 512 + 1000));
  expect((await rejectionOf(indexTar(join(work, "cut.tar")))).message).toContain("truncated");
});

test("a tar without the end-of-archive blocks still indexes", async () => {
  const whole = writeTar([{ path: "m", data: "data" }]);
  writeFileSync(join(work, "open.tar"), whole.subarray(0, whole.length - 1024));
  const members = await indexTar(join(work, "open.tar"));
  expect([...members.keys()]).toEqual(["m"]);
  expect(readFileSync(join(work, "open.tar")).length).toBe(1024);
});
