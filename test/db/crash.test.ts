/**
 * Fault injection at every named point of the chain: a SIGKILL there (a real crash), or
 * an error thrown there (a failing file or statement). Either way the next open must
 * finish the job and leave the home exactly as an uninterrupted migration does.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync } from "node:fs";
import { join } from "node:path";
import { isBoxliteError } from "../../src/util/errors.ts";
import { captureHomeState, dumpTables } from "./home-state.ts";
import { type LegacyHome, type LegacyHomeOptions, buildLegacyHome } from "./legacy-home.ts";
import { database } from "./load.ts";

const CHILD = join(import.meta.dir, "crash-child.ts");
const homes: LegacyHome[] = [];
afterAll(() => {
  for (const home of homes) home.cleanup();
});

interface Case {
  label: string;
  version: number;
  /** bases/ on tmpfs: the rootfs-base moves take the copy + fsync + delete path. */
  crossFilesystem: boolean;
  /** A snapshot interrupted by a crash, for the recovery to settle. */
  pendingSnapshot: boolean;
}

const CASES: Case[] = [
  { label: "a v2 home (every step)", version: 2, crossFilesystem: false, pendingSnapshot: false },
  { label: "a v6 home with bases/ on another filesystem and an interrupted snapshot", version: 6, crossFilesystem: true, pendingSnapshot: true },
];

function build(which: Case): LegacyHome {
  const options: LegacyHomeOptions = { pendingSnapshot: which.pendingSnapshot };
  if (which.crossFilesystem) options.basesTarget = mkdtempSync("/dev/shm/boxlite-bases-");
  const legacy = buildLegacyHome(which.version, options);
  homes.push(legacy);
  return legacy;
}

/** The points an uninterrupted migration passes, and the state it ends in. */
function referenceRun(which: Case): { points: string[]; state: unknown } {
  const legacy = build(which);
  const points: string[] = [];
  database.openDatabase({ home: legacy.home, hooks: { point: (name) => points.push(name) } }).close();
  return { points, state: captureHomeState(legacy.home) };
}

function finishAndCapture(legacy: LegacyHome): unknown {
  database.openDatabase({ home: legacy.home }).close();
  return captureHomeState(legacy.home);
}

for (const which of CASES) {
  describe(which.label, () => {
    const reference = referenceRun(which);

    test("passes every kind of point", () => {
      for (const kind of ["prepared", "before-commit", "committed", "journal-written", "disks-moved", "base-moved", "rebased"]) {
        expect(reference.points.some((point) => point.endsWith(kind))).toBe(true);
      }
      const extra = [...(which.crossFilesystem ? ["base-copied"] : []), ...(which.pendingSnapshot ? ["snapshot-disk-restored", "snapshot-settled"] : [])];
      for (const kind of extra) expect(reference.points.some((point) => point.endsWith(kind))).toBe(true);
    });

    test.each(reference.points)("a SIGKILL at %s is finished by the next open", (point) => {
      const legacy = build(which);
      const child = Bun.spawnSync([process.execPath, CHILD, legacy.home, point], { stderr: "pipe" });
      expect(child.signalCode).toBe("SIGKILL");
      expect(finishAndCapture(legacy)).toEqual(reference.state);
    });

    test.each(reference.points)("an error at %s is reported with its step and undone by the next open", (point) => {
      const legacy = build(which);
      const step = point.split(":")[0] ?? "";
      const [from, to] = step.replace(/^v/, "").split("-to-v").map(Number);
      let error: unknown;
      try {
        database.openDatabase({
          home: legacy.home,
          hooks: {
            point(name) {
              if (name === point) throw new Error(`injected fault at ${point}`);
            },
          },
        });
      } catch (caught) {
        error = caught;
      }
      expect(isBoxliteError(error)).toBe(true);
      const message = error instanceof Error ? error.message : "";
      expect(message).toContain(`injected fault at ${point}`);
      const committed = point.endsWith(":committed");
      // Inside a step the error names it and what is left; after its commit the step is done.
      if (!committed) expect(message).toContain(`step ${step}`);
      expect(dumpTables(legacy.dbPath).schema_version?.[0]?.version).toBe(committed ? to : from);
      expect(finishAndCapture(legacy)).toEqual(reference.state);
    });
  });
}
