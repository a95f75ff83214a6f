/** What a home of each version must look like after the chain has taken it to v9. */
import { expect } from "bun:test";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { type Row, dumpTables, qemuImgInfo, run, sha256, sha256Bytes } from "./home-state.ts";
import {
  ALPHA,
  ALPHA_BASE_BYTES,
  BETA,
  BETA_BASE_BYTES,
  BIG,
  CREATED_AT,
  DELTA,
  GAMMA,
  IMAGE_BYTES,
  MIGRATED_PORTS,
  MiB,
  STATE_JSON,
  configJson,
} from "./legacy-home.ts";

export const V9_TABLES = ["alive", "base_disk", "base_disk_ref", "box_config", "box_state", "image_index", "schema_version", "snapshot"];

/** Our listing indexes, the only additions to the reference's schema (src/db/box-summaries.ts). */
export const LISTING_INDEXES = ["boxlite_box_config_listing_v7", "boxlite_box_state_listing_v7"];

/** Named indexes: v2's name column came by ALTER TABLE, so its uniqueness is a named index. */
export function expectedIndexes(fromVersion: number): string[] {
  const name = fromVersion === 2 ? "idx_box_config_name_unique" : "idx_box_config_name";
  return [
    ...LISTING_INDEXES,
    "idx_base_disk_kind",
    "idx_base_disk_path",
    "idx_base_disk_source",
    "idx_box_config_created_at",
    name,
    "idx_box_state_pid",
    "idx_box_state_status",
    "idx_image_index_manifest_digest",
    "idx_snapshot_box",
  ].sort();
}

const ENABLED = { Enabled: { allow_net: [] } };

export function expectedConfig(id: string, version: number): unknown {
  const original = JSON.parse(configJson(id, version)) as { options: Record<string, unknown> };
  const options = { ...original.options };
  if (options.network === "Isolated") options.network = ENABLED;
  if (id === ALPHA) options.ports = MIGRATED_PORTS;
  return { ...original, options };
}

export function expectRows(dbPath: string, home: string, version: number): Record<string, Row[]> {
  const dump = dumpTables(dbPath);
  expect(
    Object.keys(dump)
      .filter((name) => name !== "sqlite_master")
      .sort(),
  ).toEqual(V9_TABLES);
  const indexes = dump.sqlite_master?.filter((row) => row.type === "index" && !String(row.name).startsWith("sqlite_autoindex"));
  expect(indexes?.map((row) => row.name).sort()).toEqual(expectedIndexes(version));
  expect(dump.schema_version?.map((row) => row.version)).toEqual([9]);

  const configs = dump.box_config ?? [];
  expect(configs.map((row) => [row.id, row.name, row.created_at])).toEqual([
    [ALPHA, "alpha", CREATED_AT],
    [BETA, null, CREATED_AT],
    [GAMMA, "gamma", CREATED_AT],
  ]);
  for (const row of configs) expect(JSON.parse(String(row.json))).toEqual(expectedConfig(String(row.id), version));
  // Only the fields that had to change were rewritten: big numbers stay as written, and a
  // blob with nothing to migrate is byte-identical.
  expect(String(configs[0]?.json)).toContain(`"future_field":${BIG}`);
  expect(configs[1]?.json).toBe(configJson(BETA, version));

  expect(dump.box_state?.map((row) => [row.id, row.status, row.pid, row.json])).toEqual([
    [ALPHA, "running", 4242, STATE_JSON[ALPHA]],
    [BETA, "starting", null, STATE_JSON[BETA]],
    [GAMMA, "snapshotting", null, STATE_JSON[GAMMA]],
  ]);
  const images = version >= 4 ? [["alpine:latest", "sha256:m1", "sha256:c1", '["sha256:l1","sha256:l2"]', "2025-06-15T09:00:00Z", 1]] : [];
  expect(dump.image_index?.map((row) => Object.values(row))).toEqual(images);

  const snapshotDir = join(home, "boxes", ALPHA, "snapshots", "before-upgrade");
  const snapshots = dump.snapshot ?? [];
  if (version <= 5) expect(snapshots).toEqual([]);
  else {
    expect(snapshots.map((row) => [row.id, row.box_id, row.name, row.created_at])).toEqual([["snapA001", ALPHA, "before-upgrade", 1750000100]]);
    const basePath = version === 6 ? snapshotDir : join(snapshotDir, "disk.qcow2");
    expect(JSON.parse(String(snapshots[0]?.json))).toEqual({
      id: "snapA001",
      box_id: ALPHA,
      name: "before-upgrade",
      created_at: 1750000100,
      base_path: basePath,
      container_disk_bytes: MiB,
      size_bytes: 4096,
    });
  }
  expect(dump.base_disk_ref).toEqual(version >= 7 ? [{ base_disk_id: "Base0001", box_id: ALPHA }] : []);
  return dump;
}

/** The rootfs base rows (one per box that had a rootfs-base), checked; returns id by box. */
export function expectBaseRows(dump: Record<string, Row[]>, home: string, version: number): Record<string, string> {
  const rows = dump.base_disk ?? [];
  expect(rows.map((row) => [row.source_box_id, row.name, row.kind])).toEqual([
    [ALPHA, null, "rootfs"],
    [BETA, null, "rootfs"],
  ]);
  const ids: Record<string, string> = {};
  for (const row of rows) {
    const id = String(row.id);
    ids[String(row.source_box_id)] = id;
    expect(id).toMatch(/^[0-9A-Za-z]{8}$/);
    if (version >= 7) expect(id).toBe(row.source_box_id === ALPHA ? "Base0001" : "Base0002");
    expect(row.base_path).toBe(join(home, "bases", `${id}.ext4`));
    expect(JSON.parse(String(row.json))).toEqual({
      id,
      source_box_id: row.source_box_id,
      kind: "rootfs",
      base_path: row.base_path,
      container_disk_bytes: MiB,
      size_bytes: MiB,
      created_at: row.created_at,
    });
  }
  expect(new Set(Object.values(ids)).size).toBe(2);
  return ids;
}

/** Reads a whole disk as the guest would see it, through its backing chain. */
function guestView(disk: string, scratch: string): string {
  const out = join(scratch, "view.raw");
  run(["qemu-img", "convert", "-U", "-O", "raw", disk, out]);
  const hash = sha256(out);
  rmSync(out);
  return hash;
}

function withPattern(bytes: Uint8Array, pattern: number): Uint8Array {
  const copy = bytes.slice();
  copy.fill(pattern, 64 * 1024, 192 * 1024);
  return copy;
}

export function expectFiles(home: string, ids: Record<string, string>, diskHashes: Record<string, string>): void {
  const box = (id: string, ...rest: string[]) => join(home, "boxes", id, ...rest);
  for (const id of [ALPHA, BETA, GAMMA, DELTA]) {
    for (const name of ["disk.qcow2", "guest-rootfs.qcow2", "rootfs-base"]) expect(existsSync(box(id, name))).toBe(false);
    expect(existsSync(box(id, "disks", "rootfs-base"))).toBe(false);
    expect(existsSync(box(id, "disks"))).toBe(true);
  }
  expect(readdirSync(box(GAMMA, "disks"))).toEqual([]);
  // Moved, not rewritten: the container disks are the same bytes.
  for (const [id, hash] of Object.entries(diskHashes)) expect(sha256(box(id, "disks", "disk.qcow2"))).toBe(hash);
  expect(guestView(box(ALPHA, "disks", "disk.qcow2"), home)).toBe(sha256Bytes(withPattern(IMAGE_BYTES, 0xab)));

  expect(readdirSync(join(home, "bases")).sort()).toEqual([`${ids[ALPHA]}.ext4`, `${ids[BETA]}.ext4`].sort());
  const cases: [string, Uint8Array, Uint8Array][] = [
    [ALPHA, ALPHA_BASE_BYTES, ALPHA_BASE_BYTES],
    [BETA, BETA_BASE_BYTES, withPattern(BETA_BASE_BYTES, 0xcd)],
  ];
  for (const [id, baseBytes, guestBytes] of cases) {
    const base = join(home, "bases", `${ids[id]}.ext4`);
    expect(sha256(base)).toBe(sha256Bytes(baseBytes));
    const guest = box(id, "disks", "guest-rootfs.qcow2");
    const info = qemuImgInfo(guest);
    expect([info["backing-filename"], info["backing-filename-format"], info["virtual-size"]]).toEqual([base, "raw", MiB]);
    expect(guestView(guest, home)).toBe(sha256Bytes(guestBytes));
  }
  expect(readdirSync(join(home, "db")).filter((name) => !name.startsWith("boxlite.db"))).toEqual([]);
}
