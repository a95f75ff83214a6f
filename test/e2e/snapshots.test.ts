/**
 * Snapshots and clones end to end on real VMs (QEMU): a running box is snapshotted while a
 * command keeps writing (it goes on afterwards), files written before a snapshot and
 * changed after come back on restore, a chain of 10 snapshots restores at every level, a
 * clone sees its source's files and diverges from it, and the source's removal keeps
 * what its clones need. What a disk holds is read without booting where it can be:
 * `qemu-img convert` of the chain, then debugfs (both only oracles, never in the product).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { runCli } from "../helpers/cli.ts";
import { shIn } from "../helpers/boxes.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
const home = process.env.BOXLITE_HOME ?? "";
let bl: Boxlite;
let scratch: string;

/** A file of an ext4 qcow2 chain, read without booting it. */
function readFromDisk(disk: string, path: string): string {
  const raw = join(scratch, "flat.raw");
  rmSync(raw, { force: true });
  const convert = Bun.spawnSync(["qemu-img", "convert", "-U", "-O", "raw", disk, raw]);
  expect(convert.exitCode, convert.stderr.toString()).toBe(0);
  const cat = Bun.spawnSync(["debugfs", "-R", `cat ${path}`, raw]);
  rmSync(raw, { force: true });
  return cat.stdout.toString().trim();
}

beforeAll(async () => {
  bl = new Boxlite(loadConfig({ home }));
  scratch = temp.make("boxlite-snapshots-");
});

afterAll(async () => {
  await runCli(["rm", "-f", "e2e-snap-live", "e2e-snap-chain", "e2e-clone-src", "e2e-clone-1", "e2e-clone-2"]);
  temp.removeAll();
});

describe("a running box", () => {
  test("is snapshotted while a command writes; the command goes on, and a restore brings back what was there", async () => {
    expect((await runCli(["run", "-d", "--name", "e2e-snap-live", "--", "sleep", "3600"])).code).toBe(0);
    await shIn("e2e-snap-live", "echo before > /state; (i=0; while :; do i=$((i+1)); echo $i > /counter; done) >/dev/null 2>&1 &");
    const snapshot = await bl.createSnapshot("e2e-snap-live", "one");
    expect(snapshot.name).toBe("one");
    expect(snapshot.container_disk_bytes).toBeGreaterThan(0);
    const view = await bl.getBox("e2e-snap-live");
    expect(view.status).toBe("running");
    // The writer is still writing after the snapshot. It empties /counter before each write,
    // and may not have written it yet: a read is tried again until it finds a number.
    const counter = async () => {
      for (;;) {
        const text = (await shIn("e2e-snap-live", "cat /counter 2>/dev/null; true")).trim();
        if (text !== "") return Number(text);
      }
    };
    const first = await counter();
    await Bun.sleep(300);
    expect(await counter()).toBeGreaterThan(first);
    await shIn("e2e-snap-live", "echo after > /state; sync");
    // The snapshot holds what was written before it, frozen and flushed by the guest.
    expect(readFromDisk(snapshot.base_path, "/state")).toBe("before");
    await expect(bl.restoreSnapshot("e2e-snap-live", "one")).rejects.toThrow(/stop it first/);
    // Two at once on the running box: one wins, the other is told it is busy.
    const rival = new Boxlite(loadConfig({ home }));
    const raced = await Promise.allSettled([bl.createSnapshot("e2e-snap-live", "race-a"), rival.createSnapshot("e2e-snap-live", "race-b")]);
    expect(raced.filter((result) => result.status === "fulfilled").length).toBeGreaterThanOrEqual(1);
    for (const result of raced) if (result.status === "rejected") expect(String(result.reason)).toContain("busy");
    expect((await runCli(["stop", "e2e-snap-live"])).code).toBe(0);
    await bl.restoreSnapshot("e2e-snap-live", "one");
    expect((await runCli(["start", "e2e-snap-live"])).code).toBe(0);
    expect(await shIn("e2e-snap-live", "cat /state")).toBe("before");
    expect((await runCli(["rm", "-f", "e2e-snap-live"])).code).toBe(0);
  });
});

test("a chain of 10 snapshots restores at every level", async () => {
  const id = await bl.create({ name: "e2e-snap-chain" });
  await bl.start(id);
  for (let level = 1; level <= 10; level++) {
    await shIn("e2e-snap-chain", `echo level-${level} > /level`);
    await bl.createSnapshot(id, `l${level}`);
  }
  await bl.stop(id);
  const snapshots = await bl.listSnapshots(id);
  expect(snapshots.map((s) => s.name)).toEqual(Array.from({ length: 10 }, (_, i) => `l${10 - i}`));
  for (let level = 1; level <= 10; level++) {
    await bl.restoreSnapshot(id, `l${level}`);
    expect(readFromDisk(join(home, "boxes", id, "disks", "disk.qcow2"), "/level")).toBe(`level-${level}`);
  }
  // Booting the deepest restore too, not only reading it.
  await bl.restoreSnapshot(id, "l3");
  await bl.start(id);
  expect(await shIn("e2e-snap-chain", "cat /level")).toBe("level-3");
  await bl.stop(id);
  // l3 is under the live disk and under l4..l10: not removable; l10 is under nothing now.
  await expect(bl.removeSnapshot(id, "l3")).rejects.toThrow(/still needed by/);
  await bl.removeSnapshot(id, "l10");
  expect((await bl.listSnapshots(id)).length).toBe(9);
});

test("clones see the source's files, diverge from it, and outlive it", async () => {
  expect((await runCli(["run", "-d", "--name", "e2e-clone-src", "--", "sleep", "3600"])).code).toBe(0);
  await shIn("e2e-clone-src", "echo source > /origin");
  const bases = join(home, "bases");
  const listBases = () => (existsSync(bases) ? readdirSync(bases).filter((name) => name.endsWith(".qcow2")) : []);
  const basesBefore = new Set(listBases()); // other files' tests share this home
  const [a, b] = await bl.cloneBox("e2e-clone-src", { name: "e2e-clone", count: 2 });
  expect(a && b).toBeTruthy();
  // The source keeps running through the clone.
  expect((await bl.getBox("e2e-clone-src")).status).toBe("running");
  await shIn("e2e-clone-src", "echo source-later > /origin");
  const clones = await Promise.all([bl.getBox("e2e-clone-1"), bl.getBox("e2e-clone-2")]);
  expect(clones.map((clone) => clone.status)).toEqual(["stopped", "stopped"]);
  // Thin: a clone's own disk is a header, not a copy.
  const cloneDisk = join(home, "boxes", a ?? "", "disks", "disk.qcow2");
  expect(Bun.file(cloneDisk).size).toBeLessThan(256 * 1024);
  await bl.start("e2e-clone-1");
  expect(await shIn("e2e-clone-1", "cat /origin")).toBe("source");
  await shIn("e2e-clone-1", "echo mine > /origin");
  expect(await shIn("e2e-clone-src", "cat /origin")).toBe("source-later");
  expect((await runCli(["rm", "-f", "e2e-clone-src"])).code).toBe(0);
  await bl.start("e2e-clone-2");
  expect(await shIn("e2e-clone-2", "cat /origin")).toBe("source");
  expect(await shIn("e2e-clone-1", "cat /origin")).toBe("mine");
  expect((await runCli(["rm", "-f", "e2e-clone-1", "e2e-clone-2"])).code).toBe(0);
  expect(listBases().filter((name) => !basesBefore.has(name))).toEqual([]);
});

describe("bad input", () => {
  for (const name of ["", ".", "..", ".hidden", "a/b", "a\\b", "a\0b", "x".repeat(256)]) {
    test(`the snapshot name ${JSON.stringify(name.slice(0, 20))} is refused, saying why`, async () => {
      const id = await bl.create({});
      await expect(bl.createSnapshot(id, name)).rejects.toThrow(/snapshot name/);
      expect(existsSync(join(home, "boxes", id, "snapshots"))).toBe(false);
      await bl.removeBox(id);
    });
  }
  test("a clone count of 0 or 101 is refused", async () => {
    const id = await bl.create({});
    await expect(bl.cloneBox(id, { count: 0 })).rejects.toThrow(/clone count/);
    await expect(bl.cloneBox(id, { count: 101 })).rejects.toThrow(/clone count/);
    await bl.removeBox(id);
  });
});
