import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { buildExt4FromDir, INODE_RATIO } from "./ext4.ts";

const dir = mkdtempSync(join(tmpdir(), "boxlite-ext4-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a box's disk has room for as many small files as mke2fs's default ratio gives its headroom", () => {
  const tree = join(dir, "tree");
  mkdirSync(join(tree, "etc"), { recursive: true });
  writeFileSync(join(tree, "etc", "hostname"), "box\n");
  const image = join(dir, "disk.ext4");
  buildExt4FromDir(tree, image, { headroom: 1024 * 1024 * 1024, journal: true });
  const dump = Bun.spawnSync(["dumpe2fs", "-h", image], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
  const free = Number(/^Free inodes:\s+(\d+)/m.exec(dump)?.[1]);
  // A 20,000-file source tree (a node_modules) fits, with room to spare.
  expect(free).toBeGreaterThanOrEqual((1024 * 1024 * 1024) / INODE_RATIO);
  expect(free).toBeGreaterThan(20_000 * 3);
});

test("a reproducible image has the same bytes from the same tree made a second later; others differ (random UUIDs)", async () => {
  const build = (name: string, reproducibleUuid?: string) => {
    const tree = join(dir, `${name}-tree`);
    mkdirSync(join(tree, "proc"), { recursive: true });
    writeFileSync(join(tree, "init"), "#!/bin/sh\n");
    const image = join(dir, `${name}.ext4`);
    buildExt4FromDir(tree, image, { headroom: 0, journal: false, ...(reproducibleUuid ? { reproducibleUuid } : {}) });
    return new Bun.CryptoHasher("sha256").update(readFileSync(image)).digest("hex");
  };
  const uuid = "01234567-89ab-cdef-0123-456789abcdef";
  const first = build("one", uuid);
  await Bun.sleep(1100); // a second later: every time mke2fs or the tree's files would stamp differs
  expect(build("two", uuid)).toBe(first);
  expect(build("three")).not.toBe(build("four"));
});

test("every group's inode table is marked zeroed, so the guest kernel has none to zero at a box's first boot", () => {
  const tree = join(dir, "zeroed-tree");
  mkdirSync(join(tree, "etc"), { recursive: true });
  writeFileSync(join(tree, "etc", "hostname"), "box\n");
  const image = join(dir, "zeroed.ext4");
  writeFileSync(image, "an older build's leftover bytes");
  buildExt4FromDir(tree, image, { headroom: 1024 * 1024 * 1024, journal: true });
  const dump = Bun.spawnSync(["dumpe2fs", image], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
  const groups = dump.match(/^Group \d+:.*$/gm) ?? [];
  expect(groups.length).toBeGreaterThan(4);
  expect(groups.filter((line) => !line.includes("ITABLE_ZEROED"))).toEqual([]);
  // Marked, not written: the tables are holes, so the image stays as small as its content.
  expect(Bun.file(image).size).toBeGreaterThan(1024 * 1024 * 1024);
  const allocatedKib = Number(Bun.spawnSync(["du", "-k", image], { stdout: "pipe" }).stdout.toString().split("\t")[0]);
  expect(allocatedKib).toBeGreaterThan(0);
  expect(allocatedKib).toBeLessThan(8 * 1024);
});
