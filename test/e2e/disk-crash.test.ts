/**
 * Crash safety of snapshot, restore and clone: a child process doing one is SIGKILLed at
 * each named step (BOXLITE_CRASH_AT), then the home is opened again. Afterwards the box's
 * disk is a whole qcow2 chain (qemu-img check is the oracle), the snapshot or clone base
 * exists with its row or not at all, nothing pending is left, and the operation works
 * when tried again. Stopped boxes: no VM is needed to fork a disk.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
let home: string;

function runtime(): Boxlite {
  return new Boxlite(loadConfig({ home }));
}

/** Runs `script` (TS using `bl`, a Boxlite on the test home) in a child, crashing at `point`. */
async function crashAt(point: string, script: string): Promise<number> {
  const file = join(home, `crash-${point}.ts`);
  await Bun.write(
    file,
    `import { Boxlite } from ${JSON.stringify(join(import.meta.dir, "../../src/runtime/boxlite.ts"))};
import { loadConfig } from ${JSON.stringify(join(import.meta.dir, "../../src/config/config.ts"))};
const bl = new Boxlite(loadConfig({ home: ${JSON.stringify(home)} }));
${script}
process.exit(0);`,
  );
  const proc = Bun.spawn([process.execPath, file], { env: { ...process.env, BOXLITE_CRASH_AT: point }, stdout: "ignore", stderr: "pipe" });
  return proc.exited;
}

/** qemu-img's verdict on a disk and its whole chain. */
function checkChain(disk: string): void {
  const check = Bun.spawnSync(["qemu-img", "check", "-U", disk]);
  expect(check.exitCode, check.stderr.toString()).toBe(0);
  const info = Bun.spawnSync(["qemu-img", "info", "-U", "--backing-chain", disk]);
  expect(info.exitCode, info.stderr.toString()).toBe(0);
}

function pendingLeft(): string[] {
  const dir = join(home, "tmp", "pending");
  return existsSync(dir) ? readdirSync(dir) : [];
}

beforeAll(() => {
  home = temp.make("boxlite-disk-crash-");
});
afterAll(() => temp.removeAll());

const SNAPSHOT_POINTS = [
  "snapshot-marked",
  "snapshot-fork-linked",
  "snapshot-fork-overlay",
  "snapshot-fork-switched",
  "snapshot-fork-done",
  "snapshot-recorded",
];

describe("a snapshot killed at each step", () => {
  for (const point of SNAPSHOT_POINTS) {
    test(`at ${point}: the home opens, the disk is whole, the snapshot is complete or gone, and it can be taken again`, async () => {
      const bl = runtime();
      const id = await bl.create({ name: `snap-${point}` });
      const code = await crashAt(point, `await bl.createSnapshot(${JSON.stringify(id)}, "s");`);
      expect(code).toBe(137);
      const after = runtime();
      const snapshots = await after.listSnapshots(id);
      expect(pendingLeft()).toEqual([]);
      const dir = join(home, "boxes", id, "snapshots", "s");
      const disk = join(home, "boxes", id, "disks", "disk.qcow2");
      checkChain(disk);
      if (snapshots.length === 1) {
        // Finished: the box's disk sits on the snapshot, which is whole too.
        expect(existsSync(join(dir, "disk.qcow2"))).toBe(true);
        const chain = Bun.spawnSync(["qemu-img", "info", "-U", "--output=json", disk]).stdout.toString();
        expect(JSON.parse(chain)["backing-filename"]).toBe(join(dir, "disk.qcow2"));
      } else {
        expect(snapshots).toEqual([]);
        expect(existsSync(dir)).toBe(false);
      }
      // Past the fork the snapshot must have survived; before it, nothing may remain.
      const forked = ["snapshot-fork-switched", "snapshot-fork-done", "snapshot-recorded"].includes(point);
      expect(snapshots.length).toBe(forked ? 1 : point === "snapshot-fork-overlay" ? 1 : 0);
      const again = await after.createSnapshot(id, "again");
      expect(again.name).toBe("again");
      expect(readdirSync(join(home, "boxes", id, "disks")).filter((name) => name.startsWith(".next-"))).toEqual([]);
    });
  }
});

const CLONE_POINTS = ["clone-marked", "clone-fork-linked", "clone-fork-overlay", "clone-fork-done", "clone-based", "clone-provisioned"];

describe("a clone killed at each step", () => {
  for (const point of CLONE_POINTS) {
    test(`at ${point}: the source's disk is whole and no base is kept that nothing needs`, async () => {
      const bl = runtime();
      const id = await bl.create({ name: `clone-${point}` });
      const before = new Set((await bl.listBoxes({ all: true })).map((box) => box.box_id));
      const code = await crashAt(point, `await bl.cloneBox(${JSON.stringify(id)}, { count: 2 });`);
      expect(code).toBe(137);
      const after = runtime();
      const boxes = (await after.listBoxes({ all: true })).filter((box) => !before.has(box.box_id));
      expect(pendingLeft()).toEqual([]);
      checkChain(join(home, "boxes", id, "disks", "disk.qcow2"));
      for (const clone of boxes) checkChain(join(home, "boxes", clone.box_id, "disks", "disk.qcow2"));
      // Removing the source and whatever clones were made leaves no base behind.
      for (const clone of boxes) await after.removeBox(clone.box_id, { force: true });
      await after.removeBox(id, { force: true });
      const bases = readdirSync(join(home, "bases")).filter((name) => name.endsWith(".qcow2"));
      const others = (await after.listBoxes({ all: true })).length;
      if (others === 0) expect(bases).toEqual([]);
    });
  }
});

describe("a restore killed at each step", () => {
  for (const point of ["restore-overlay", "restore-done"]) {
    test(`at ${point}: the box's disk is the old one or the restored one, whole`, async () => {
      const bl = runtime();
      const id = await bl.create({ name: `restore-${point}` });
      await bl.createSnapshot(id, "s");
      const code = await crashAt(point, `await bl.restoreSnapshot(${JSON.stringify(id)}, "s");`);
      expect(code).toBe(137);
      const after = runtime();
      const disk = join(home, "boxes", id, "disks", "disk.qcow2");
      checkChain(disk);
      await after.restoreSnapshot(id, "s");
      checkChain(disk);
      await after.removeBox(id, { force: true });
    });
  }
});

describe("an export killed at each step", () => {
  for (const point of ["export-flattened", "export-temp-created", "export-compressed", "export-synced", "export-renamed"]) {
    test(`at ${point}: the archive is complete or absent, no temp file or staging is left once the next export ran`, async () => {
      const bl = runtime();
      const id = await bl.create({ name: `export-${point}` });
      const dest = join(home, `${point}.boxlite`);
      const code = await crashAt(point, `await bl.exportBox(${JSON.stringify(id)}, ${JSON.stringify(dest)});`);
      expect(code).toBe(137);
      const after = runtime();
      await after.listBoxes(); // opening the home sweeps the dead export's staging
      expect(readdirSync(join(home, "tmp")).filter((name) => name.startsWith("export-"))).toEqual([]);
      if (existsSync(dest)) expect(await after.importBox(dest, { name: `imported-${point}` })).toBeTruthy();
      // The next export sweeps what the dead one left beside its destination.
      await after.exportBox(id, dest);
      expect(readdirSync(home).filter((name) => name.startsWith(`${point}.boxlite.tmp-`))).toEqual([]);
      checkChain(join(home, "boxes", id, "disks", "disk.qcow2"));
    });
  }
});

describe("an import killed at each step", () => {
  for (const point of ["import-read", "import-placed", "import-recorded"]) {
    test(`at ${point}: the box is there whole or not at all`, async () => {
      const bl = runtime();
      const id = await bl.create({ name: `source-${point}` });
      const archive = await bl.exportBox(id, join(home, `source-${point}.boxlite`));
      const name = `imported-${point}`;
      const code = await crashAt(point, `await bl.importBox(${JSON.stringify(archive)}, { name: ${JSON.stringify(name)} });`);
      expect(code).toBe(137);
      const after = runtime();
      const made = (await after.listBoxes({ all: true })).find((box) => box.name === name);
      expect(readdirSync(join(home, "tmp")).filter((name) => name.startsWith("import-"))).toEqual([]);
      if (made) checkChain(join(home, "boxes", made.box_id, "disks", "disk.qcow2"));
      else expect(await after.importBox(archive, { name })).toBeTruthy();
    });
  }
});

describe("the reference's own marker (no fork plan)", () => {
  test("a snapshot it cut short after renaming the live disk away is undone before the box starts", async () => {
    const bl = runtime();
    const id = await bl.create({ name: "reference-cut" });
    const boxDir = join(home, "boxes", id);
    const disk = join(boxDir, "disks", "disk.qcow2");
    const snapshotDir = join(boxDir, "snapshots", "theirs");
    mkdirSync(snapshotDir, { recursive: true });
    // Where the reference's fork stops after its rename: the live disk is gone.
    renameSync(disk, join(snapshotDir, "disk.qcow2"));
    writeFileSync(join(boxDir, ".snapshot_pending"), JSON.stringify({ snapshot_dir: snapshotDir, container_disk: disk }));
    await expect(bl.start(id)).resolves.toBe(id);
    expect(existsSync(disk)).toBe(true);
    expect(existsSync(snapshotDir)).toBe(false);
    expect(existsSync(join(boxDir, ".snapshot_pending"))).toBe(false);
    expect(await bl.listSnapshots(id)).toEqual([]);
    await bl.removeBox(id, { force: true });
  });

  test("one it finished (the live disk sits on the snapshot) is kept and recorded under its directory's name", async () => {
    const bl = runtime();
    const id = await bl.create({ name: "reference-done" });
    const boxDir = join(home, "boxes", id);
    const disk = join(boxDir, "disks", "disk.qcow2");
    const snapshotDir = join(boxDir, "snapshots", "theirs");
    mkdirSync(snapshotDir, { recursive: true });
    renameSync(disk, join(snapshotDir, "disk.qcow2"));
    expect(Bun.spawnSync(["qemu-img", "create", "-q", "-f", "qcow2", "-b", join(snapshotDir, "disk.qcow2"), "-F", "qcow2", disk]).exitCode).toBe(0);
    writeFileSync(join(boxDir, ".snapshot_pending"), JSON.stringify({ snapshot_dir: snapshotDir, container_disk: disk }));
    await bl.start(id);
    expect((await bl.listSnapshots(id)).map((snapshot) => snapshot.name)).toEqual(["theirs"]);
    checkChain(disk);
    await bl.removeBox(id, { force: true });
  });
});

test("two snapshots of one box at once: one wins, the other is told the box is busy", async () => {
  const bl = runtime();
  const id = await bl.create({ name: "racing" });
  const other = runtime();
  const results = await Promise.allSettled([bl.createSnapshot(id, "a"), other.createSnapshot(id, "b")]);
  const failures = results.filter((result) => result.status === "rejected").map((result) => String((result as PromiseRejectedResult).reason));
  // Both may also succeed one after the other when the first finishes before the second looks.
  for (const failure of failures) expect(failure).toContain("busy");
  expect(results.some((result) => result.status === "fulfilled")).toBe(true);
});
