import { afterAll, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
