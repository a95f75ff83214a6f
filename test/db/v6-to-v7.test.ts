/** v6 → v7 on the homes the chain meets in the field: partial boxes, interrupted snapshots, odd backing files. */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../../src/util/errors.ts";
import { dumpTables, qemuImgInfo, run } from "./home-state.ts";
import { LEGACY_SCHEMAS } from "./legacy-schemas.ts";
import { database, qcow2 } from "./load.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-v6-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** An empty v6 home; `files` lays out boxes/ (paths relative to the home). */
function v6Home(): string {
  const home = join(root, String(counter++));
  mkdirSync(join(home, "db"), { recursive: true });
  const db = new Database(join(home, "db", "boxlite.db"), { create: true });
  db.run(LEGACY_SCHEMAS[6] ?? "");
  db.run("INSERT INTO schema_version VALUES (1, 6, 'then')");
  db.close();
  return home;
}

function put(home: string, path: string, content: string | Uint8Array = path): string {
  const full = join(home, path);
  mkdirSync(join(full, ".."), { recursive: true });
  writeFileSync(full, content);
  return full;
}

function open(home: string): string[] {
  const handle = database.openDatabase({ home, bootId: "boot" });
  handle.close();
  return handle.warnings;
}

const version = (home: string) => dumpTables(join(home, "db", "boxlite.db")).schema_version?.[0]?.version;

test("a v6 home without a boxes directory migrates, with bases/ created", () => {
  const home = v6Home();
  expect(open(home)).toEqual([]);
  expect([version(home), existsSync(join(home, "bases"))]).toEqual([9, true]);
});

test("boxes with no disks, or only some of their files, migrate without an error", () => {
  const home = v6Home();
  mkdirSync(join(home, "boxes", "empty"), { recursive: true });
  put(home, "boxes/diskonly/disk.qcow2", "container bytes");
  run(["qemu-img", "create", "-q", "-f", "qcow2", put(home, "boxes/standalone/guest-rootfs.qcow2"), "1M"]);
  put(home, "boxes/baseonly/rootfs-base", "base bytes");
  put(home, "boxes/not-a-box.txt", "a stray file is not a box");
  expect(open(home)).toEqual([]);
  expect(readdirSync(join(home, "boxes", "empty", "disks"))).toEqual([]);
  expect(readFileSync(join(home, "boxes", "diskonly", "disks", "disk.qcow2"), "utf8")).toBe("container bytes");
  expect(qemuImgInfo(join(home, "boxes", "standalone", "disks", "guest-rootfs.qcow2"))["backing-filename"]).toBeUndefined();
  const rows = dumpTables(join(home, "db", "boxlite.db")).base_disk ?? [];
  expect(rows.map((row) => row.source_box_id)).toEqual(["baseonly"]);
  expect(readFileSync(String(rows[0]?.base_path), "utf8")).toBe("base bytes");
  expect(readFileSync(join(home, "boxes", "not-a-box.txt"), "utf8")).toBe("a stray file is not a box");
});

test("a guest disk backed by something other than its rootfs-base keeps its backing, with a warning", () => {
  const home = v6Home();
  const shared = put(home, "images/guest/shared.ext4", new Uint8Array(1024 * 1024));
  put(home, "boxes/odd/rootfs-base", new Uint8Array(1024 * 1024));
  qcow2.createOverlay({ path: join(home, "boxes", "odd", "guest-rootfs.qcow2"), backingFile: shared, backingFormat: "raw" });
  const warnings = open(home);
  const guest = join(home, "boxes", "odd", "disks", "guest-rootfs.qcow2");
  expect(warnings).toHaveLength(1);
  expect(warnings[0]).toContain("box odd");
  expect(warnings[0]).toContain(guest);
  expect(qemuImgInfo(guest)["backing-filename"]).toBe(shared);
});

interface MarkerCase {
  live: boolean;
  snapshot: boolean;
  recorded?: boolean;
}

/** A box whose snapshot was interrupted: which of its two disks exist, and whether a row names the snapshot. */
function interruptedSnapshot(home: string, { live, snapshot, recorded }: MarkerCase): { box: string; snapshotDir: string } {
  const box = join(home, "boxes", "snapper");
  const snapshotDir = join(box, "snapshots", "s1");
  mkdirSync(snapshotDir, { recursive: true });
  if (live) put(home, "boxes/snapper/disk.qcow2", "live disk");
  if (snapshot) put(home, "boxes/snapper/snapshots/s1/disk.qcow2", "disk taken by the snapshot");
  writeFileSync(join(box, ".snapshot_pending"), JSON.stringify({ snapshot_dir: snapshotDir, container_disk: join(box, "disk.qcow2") }));
  if (recorded) {
    const db = new Database(join(home, "db", "boxlite.db"));
    db.run("INSERT INTO box_config VALUES ('snapper', NULL, 0, '{}')");
    db.query("INSERT INTO box_snapshot VALUES ('s1id', 'snapper', 's1', 0, ?1, 0, 0, 0)").run(snapshotDir);
    db.close();
  }
  return { box, snapshotDir };
}

test("a snapshot interrupted after taking the disk gives the disk back and drops the half-made snapshot", () => {
  const home = v6Home();
  const { box, snapshotDir } = interruptedSnapshot(home, { live: false, snapshot: true });
  expect(open(home)).toEqual([]);
  expect(readFileSync(join(box, "disks", "disk.qcow2"), "utf8")).toBe("disk taken by the snapshot");
  expect([existsSync(snapshotDir), existsSync(join(box, ".snapshot_pending"))]).toEqual([false, false]);
});

test("a snapshot interrupted after its COW child existed keeps both disks, with a warning", () => {
  const home = v6Home();
  const { box, snapshotDir } = interruptedSnapshot(home, { live: true, snapshot: true });
  const warnings = open(home);
  expect(warnings.some((warning) => warning.includes("box snapper") && warning.includes(snapshotDir))).toBe(true);
  expect(readFileSync(join(box, "disks", "disk.qcow2"), "utf8")).toBe("live disk");
  expect(readFileSync(join(snapshotDir, "disk.qcow2"), "utf8")).toBe("disk taken by the snapshot");
  expect(existsSync(join(box, ".snapshot_pending"))).toBe(false);
});

test("a snapshot interrupted before taking the disk leaves the disk and removes the empty snapshot directory", () => {
  const home = v6Home();
  const { box, snapshotDir } = interruptedSnapshot(home, { live: true, snapshot: false });
  expect(open(home)).toEqual([]);
  expect(readFileSync(join(box, "disks", "disk.qcow2"), "utf8")).toBe("live disk");
  expect(existsSync(snapshotDir)).toBe(false);
});

test("a snapshot directory that a committed row names is never removed by recovery", () => {
  const home = v6Home();
  const { snapshotDir } = interruptedSnapshot(home, { live: true, snapshot: false, recorded: true });
  open(home);
  expect(existsSync(snapshotDir)).toBe(true);
  const rows = dumpTables(join(home, "db", "boxlite.db")).snapshot ?? [];
  expect(rows.map((row) => JSON.parse(String(row.json)).base_path)).toEqual([snapshotDir]);
});

test("a marker whose disks are both gone says so and clears the snapshot directory", () => {
  const home = v6Home();
  const { snapshotDir } = interruptedSnapshot(home, { live: false, snapshot: false });
  const warnings = open(home);
  expect(warnings.some((warning) => warning.includes("box snapper") && warning.includes("lost"))).toBe(true);
  expect(existsSync(snapshotDir)).toBe(false);
});

test("a marker naming files outside its box is ignored: nothing outside the box moves", () => {
  const home = v6Home();
  const outside = put(home, "elsewhere/disk.qcow2", "not the box's");
  put(
    home,
    "boxes/evil/.snapshot_pending",
    JSON.stringify({ snapshot_dir: join(home, "elsewhere"), container_disk: join(home, "boxes", "evil", "disk.qcow2") }),
  );
  const warnings = open(home);
  expect(warnings.some((warning) => warning.includes("box evil") && warning.includes("outside the box directory"))).toBe(true);
  expect(readFileSync(outside, "utf8")).toBe("not the box's");
  expect(existsSync(join(home, "boxes", "evil", ".snapshot_pending"))).toBe(false);
});

test("a damaged marker is dropped with a warning, touching no disk", () => {
  const home = v6Home();
  put(home, "boxes/junk/.snapshot_pending", "{ not json");
  put(home, "boxes/junk/disk.qcow2", "live");
  const warnings = open(home);
  expect(warnings.some((warning) => warning.includes("box junk") && warning.includes("not valid JSON"))).toBe(true);
  expect(readFileSync(join(home, "boxes", "junk", "disks", "disk.qcow2"), "utf8")).toBe("live");
});

test("a failing file operation names the step and the file; the home stays at v6 and a rerun finishes", () => {
  const home = v6Home();
  put(home, "boxes/blocked/disk.qcow2", "data");
  const blocker = put(home, "boxes/blocked/disks", "a file where a directory must go");
  let error: unknown;
  try {
    open(home);
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(BoxliteError);
  const message = (error as BoxliteError).message;
  expect(message).toContain("step v6-to-v7");
  expect(message).toContain(blocker);
  expect((error as BoxliteError).code).toBe("disk");
  expect(version(home)).toBe(6);
  rmSync(blocker);
  open(home);
  expect(version(home)).toBe(9);
  expect(readFileSync(join(home, "boxes", "blocked", "disks", "disk.qcow2"), "utf8")).toBe("data");
});
