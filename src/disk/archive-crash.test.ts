/**
 * A writer killed by SIGKILL at each named point of an export: afterwards dest is either
 * absent or a whole, valid archive, and the next write into the directory sweeps the dead
 * writer's temporary file.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { freshStaging, sha256, writeDiskFiles } from "./archive-fixture.test-helper.ts";
import { readArchive } from "./archive-read.ts";
import { writeArchive } from "./archive-write.ts";

const CHILD = join(import.meta.dir, "archive-crash-child.test-helper.ts");
const POINTS = ["temp-created", "entry:disk.qcow2", "entry:guest-rootfs.qcow2", "compressed", "entry:manifest.json", "synced", "renamed"];

const temps = new TempDirs();
const dir = temps.make("boxlite-archive-crash-");
const { disks, paths } = writeDiskFiles(dir, 8 * 1024 * 1024, 2 * 1024 * 1024);
afterAll(() => temps.removeAll());

test("an uninterrupted write passes every point, in order", async () => {
  const passed: string[] = [];
  await writeArchive({ dest: join(dir, "reference.boxlite"), image: "alpine", disks: paths, hooks: { point: (name) => passed.push(name) } });
  expect(passed).toEqual(POINTS);
});

test.each(POINTS)("a SIGKILL at %s leaves dest absent or whole, and the next write sweeps the rest", async (point) => {
  const outDir = temps.make("boxlite-archive-crash-out-");
  const dest = join(outDir, "box.boxlite");
  const child = Bun.spawnSync([process.execPath, CHILD, dest, paths.container, paths.guest, point], { stderr: "pipe" });
  expect(child.signalCode).toBe("SIGKILL");
  const before = readdirSync(outDir);
  expect(existsSync(dest)).toBe(point === "renamed");
  if (existsSync(dest)) {
    const read = await readArchive(dest, freshStaging(outDir));
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(disks.container));
  }
  expect(before.filter((name) => name.includes(".tmp-")).length).toBe(point === "renamed" ? 0 : 1);

  await writeArchive({ dest: join(outDir, "next.boxlite"), image: "alpine", disks: paths });
  expect(readdirSync(outDir).filter((name) => name.includes(".tmp-"))).toEqual([]);
});
