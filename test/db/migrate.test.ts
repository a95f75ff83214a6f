import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { listBoxes } from "../../src/db/boxes.ts";
import { listSnapshots, snapshotDiskPath } from "../../src/db/snapshots.ts";
import { existsSync } from "node:fs";
import { expectBaseRows, expectFiles, expectRows } from "./expect-migrated.ts";
import { captureHomeState, dumpTables, listFiles, sha256 } from "./home-state.ts";
import { ALPHA, BETA, DELTA, GAMMA, type LegacyHome, buildLegacyHome } from "./legacy-home.ts";
import { database } from "./load.ts";

const homes: LegacyHome[] = [];
afterAll(() => {
  for (const home of homes) home.cleanup();
});

function stepsFrom(version: number): string[] {
  const steps: string[] = [];
  for (let v = version; v < 9; v++) steps.push(`v${v}-to-v${v + 1}`);
  return steps;
}

describe.each([2, 3, 4, 5, 6, 7, 8])("a home written by boxlite v%i", (version) => {
  test("opens at schema v9 with every row migrated and every file in its v9 place", () => {
    const legacy = buildLegacyHome(version);
    homes.push(legacy);
    const { home } = legacy;
    const oldDisk = (id: string) => join(home, "boxes", id, ...(version <= 6 ? [] : ["disks"]), "disk.qcow2");
    const diskHashes = { [ALPHA]: sha256(oldDisk(ALPHA)), [BETA]: sha256(oldDisk(BETA)) };
    const filesBefore = Object.fromEntries(
      listFiles(home)
        .filter((f) => !f.startsWith("db/"))
        .map((f) => [f, sha256(join(home, f))]),
    );

    const handle = database.openDatabase({ home, bootId: "boot-1" });
    handle.close();

    expect(handle.previousVersion).toBe(version);
    expect(handle.migrated).toEqual(stepsFrom(version));
    if (version <= 6) {
      // The one box whose guest disk lost its backing file is named, with the file.
      expect(handle.warnings).toHaveLength(1);
      expect(handle.warnings[0]).toContain(DELTA);
      expect(handle.warnings[0]).toContain(join(home, "images", "guest-cache", "gone.ext4"));
    } else {
      expect(handle.warnings).toEqual([]);
    }
    const dump = expectRows(legacy.dbPath, home, version);
    expect(dump.alive?.map((row) => row.boot_id)).toEqual(["boot-1"]);
    const ids = expectBaseRows(dump, home, version);
    expectFiles(home, ids, diskHashes);
    if (version >= 7) {
      const filesAfter = Object.fromEntries(
        listFiles(home)
          .filter((f) => !f.startsWith("db/"))
          .map((f) => [f, sha256(join(home, f))]),
      );
      expect(filesAfter).toEqual(filesBefore);
    }
  });

  test("reads back through the repositories, legacy statuses mapped", () => {
    const legacy = homes.find((home) => home.version === version);
    if (legacy === undefined) throw new Error("the migration test must run first");
    const handle = database.openDatabase({ home: legacy.home, bootId: "boot-1" });
    try {
      const boxes = listBoxes(handle.db);
      expect(boxes.map((box) => [box.id, box.name, box.status, box.pid])).toEqual([
        [GAMMA, "gamma", "stopped", null],
        [BETA, null, "configured", null],
        [ALPHA, "alpha", "running", 4242],
      ]);
      for (const snapshot of listSnapshots(handle.db, ALPHA)) expect(existsSync(snapshotDiskPath(snapshot))).toBe(true);
    } finally {
      handle.close();
    }
  });

  test("a second open migrates nothing and changes nothing", () => {
    const legacy = homes.find((home) => home.version === version);
    if (legacy === undefined) throw new Error("the migration test must run first");
    const before = captureHomeState(legacy.home);
    const handle = database.openDatabase({ home: legacy.home, bootId: "boot-1" });
    handle.close();
    expect(handle.migrated).toEqual([]);
    expect(handle.hostRebooted).toBe(false);
    expect(captureHomeState(legacy.home)).toEqual(before);
    expect(dumpTables(legacy.dbPath).schema_version?.[0]?.version).toBe(9);
  });
});
