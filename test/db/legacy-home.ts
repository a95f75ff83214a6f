/**
 * Homes as boxlite v2…v8 left them: that version's schema (legacy-schemas.ts), its rows
 * (legacy statuses, "Isolated" networks, host_port: null mappings, snapshot rows) and
 * its files (real qcow2 overlays over real raw files, in that version's layout).
 */
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LEGACY_SCHEMAS } from "./legacy-schemas.ts";
import { qcow2 } from "./load.ts";

export const ALPHA = "AlphaBox0001"; // named, full disks, rootfs-base beside its disks
export const BETA = "BetaBox00002"; // unnamed, rootfs-base already under disks/
export const GAMMA = "GammaBox0003"; // no disks at all
export const DELTA = "DeltaBox0004"; // a directory with no row; its guest disk's backing is gone
/** A number no double can hold: it must survive every rewrite as written. */
export const BIG = "12345678901234567890";
export const MiB = 1024 * 1024;
export const CREATED_AT = 1750000000;

/** Deterministic file contents (xorshift32), so two builds of a home hash the same. */
export function fillBytes(seed: number, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export const IMAGE_BYTES = fillBytes(1, MiB);
export const ALPHA_BASE_BYTES = fillBytes(2, MiB);
export const BETA_BASE_BYTES = fillBytes(3, MiB);

export const LEGACY_PORTS = [
  { host_port: null, guest_port: 8080, protocol: "Tcp", host_ip: null, note: "kept" },
  { host_port: 9000, guest_port: 80, protocol: "Tcp", host_ip: "127.0.0.1" },
  { host_port: null, guest_port: 9000, protocol: "Udp", host_ip: null },
  { host_port: null, guest_port: 53, protocol: "udp", host_ip: "10.0.0.1" },
];
export const MIGRATED_PORTS = [
  { host_port: 8080, guest_port: 8080, protocol: "Tcp", host_ip: null, note: "kept" },
  { host_port: 9000, guest_port: 9000, protocol: "Tcp", host_ip: null },
  { host_port: 53, guest_port: 53, protocol: "Tcp", host_ip: null },
];

export interface LegacyHome {
  home: string;
  version: number;
  dbPath: string;
  cleanup(): void;
}

export interface LegacyHomeOptions {
  /** Where bases/ really lives (a symlink from the home): another filesystem, say. */
  basesTarget?: string;
  /** v6 and older: BETA crashed in the middle of a snapshot, its disk inside the snapshot. */
  pendingSnapshot?: boolean;
}

function network(version: number, old: string): unknown {
  return version <= 7 ? old : { Enabled: { allow_net: [] } };
}

export function configJson(id: string, version: number): string {
  const common = { created_at: "2025-06-15T10:00:00.123456789Z", container: { id: "ab".repeat(32) }, engine_kind: "Libkrun" };
  const rootfs = { Image: "alpine:latest" };
  if (id === ALPHA) {
    const options = { rootfs, cpus: 2, memory_mib: 512, network: network(version, "Isolated"), ports: LEGACY_PORTS, future_option: { nested: true } };
    const json = JSON.stringify({ id, name: "alpha", ...common, options, box_home: `/x/${id}`, future_field: "__BIG__" });
    return json.replace('"__BIG__"', BIG);
  }
  if (id === BETA) {
    return JSON.stringify({ id, name: null, ...common, options: { rootfs, network: "Disabled", ports: [] }, box_home: `/x/${id}` });
  }
  return JSON.stringify({ id, name: "gamma", ...common, options: { rootfs, network: network(version, "Isolated") }, box_home: `/x/${id}` });
}

export const STATE_JSON: Record<string, string> = {
  [ALPHA]: JSON.stringify({
    status: "running",
    pid: 4242,
    container_id: "ab".repeat(32),
    last_updated: "2025-06-15T10:01:00Z",
    lock_id: 3,
    health_status: { state: "None", failures: 0, last_check: null },
    future_state: [1, 2],
  }),
  [BETA]: JSON.stringify({ status: "starting", pid: null, container_id: null, last_updated: "2025-06-15T10:02:00Z", lock_id: null }),
  [GAMMA]: JSON.stringify({ status: "snapshotting", pid: null, container_id: null, last_updated: "2025-06-15T10:03:00Z", lock_id: null }),
};
const STATE_COLUMN: Record<string, [string, number | null]> = { [ALPHA]: ["running", 4242], [BETA]: ["starting", null], [GAMMA]: ["snapshotting", null] };

export function buildLegacyHome(version: number, options: LegacyHomeOptions = {}): LegacyHome {
  const home = mkdtempSync(join(tmpdir(), `boxlite-v${version}-`));
  const dbPath = join(home, "db", "boxlite.db");
  mkdirSync(join(home, "db"));
  const db = new Database(dbPath, { create: true, strict: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run(LEGACY_SCHEMAS[version] ?? "");
  db.query("INSERT INTO schema_version (id, version, updated_at) VALUES (1, ?1, '2025-06-15T10:00:00+00:00')").run(version);
  insertRows(db, home, version);
  db.close();
  if (options.basesTarget !== undefined) {
    mkdirSync(options.basesTarget, { recursive: true });
    symlinkSync(options.basesTarget, join(home, "bases"));
  }
  if (version <= 6) writeOldLayout(home, version);
  else writeNewLayout(home);
  if (options.pendingSnapshot === true && version <= 6) interruptSnapshot(home);
  const cleanup = () => {
    rmSync(home, { recursive: true, force: true });
    if (options.basesTarget !== undefined) rmSync(options.basesTarget, { recursive: true, force: true });
  };
  return { home, version, dbPath, cleanup };
}

function insertRows(db: Database, home: string, version: number): void {
  for (const id of [ALPHA, BETA, GAMMA]) {
    const json = configJson(id, version);
    if (version === 2) db.query("INSERT INTO box_config (id, created_at, json) VALUES (?1, ?2, ?3)").run(id, CREATED_AT, json);
    else db.query("INSERT INTO box_config (id, name, created_at, json) VALUES (?1, json_extract(?3, '$.name'), ?2, ?3)").run(id, CREATED_AT, json);
    const [status, pid] = STATE_COLUMN[id] ?? ["unknown", null];
    db.query("INSERT INTO box_state (id, status, pid, json) VALUES (?1, ?2, ?3, ?4)").run(id, status, pid, STATE_JSON[id] ?? "{}");
  }
  if (version >= 4) {
    db.query("INSERT INTO image_index VALUES ('alpine:latest', 'sha256:m1', 'sha256:c1', '[\"sha256:l1\",\"sha256:l2\"]', '2025-06-15T09:00:00Z', 1)").run();
  }
  if (version === 5) {
    db.query("INSERT INTO snapshots (id, box_id, name, created_at) VALUES ('old1', ?1, 'old-snap', '2025-06-15')").run(ALPHA);
  }
  if (version === 6) {
    db.query("INSERT INTO box_snapshot VALUES ('snapA001', ?1, 'before-upgrade', 1750000100, ?2, 333, ?3, 4096)").run(
      ALPHA,
      join(home, "boxes", ALPHA, "snapshots", "before-upgrade"),
      MiB,
    );
  }
  if (version >= 7) {
    const snapshot = {
      id: "snapA001",
      box_id: ALPHA,
      name: "before-upgrade",
      created_at: 1750000100,
      base_path: join(home, "boxes", ALPHA, "snapshots", "before-upgrade", "disk.qcow2"),
      container_disk_bytes: MiB,
      size_bytes: 4096,
    };
    db.query("INSERT INTO snapshot VALUES (?1, ?2, ?3, ?4, ?5)").run("snapA001", ALPHA, "before-upgrade", 1750000100, JSON.stringify(snapshot));
    for (const [baseId, boxId] of [
      ["Base0001", ALPHA],
      ["Base0002", BETA],
    ] as const) {
      const basePath = join(home, "bases", `${baseId}.ext4`);
      const json = {
        id: baseId,
        source_box_id: boxId,
        kind: "rootfs",
        base_path: basePath,
        container_disk_bytes: MiB,
        size_bytes: MiB,
        created_at: 1750000200,
      };
      db.query("INSERT INTO base_disk VALUES (?1, ?2, NULL, 'rootfs', ?3, 1750000200, ?4)").run(baseId, boxId, basePath, JSON.stringify(json));
    }
    db.query("INSERT INTO base_disk_ref VALUES ('Base0001', ?1)").run(ALPHA);
  }
}

function writeFile(path: string, bytes: Uint8Array): void {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, bytes);
}

function overlay(path: string, backingFile: string): void {
  mkdirSync(join(path, ".."), { recursive: true });
  qcow2.createOverlay({ path, backingFile, backingFormat: "raw" });
}

/** Writes a recognisable pattern into the overlay itself, so its own clusters carry data. */
function writeData(path: string, pattern: number): void {
  const result = Bun.spawnSync(["qemu-io", "-f", "qcow2", "-c", `write -P ${pattern} 64k 128k`, path]);
  if (result.exitCode !== 0) throw new Error(`qemu-io ${path}: ${result.stderr.toString()}`);
}

const imagePath = (home: string) => join(home, "images", "disk-images", "sha256-aa.ext4");

function writeOldLayout(home: string, version: number): void {
  const box = (id: string, ...rest: string[]) => join(home, "boxes", id, ...rest);
  writeFile(imagePath(home), IMAGE_BYTES);
  writeFile(box(ALPHA, "rootfs-base"), ALPHA_BASE_BYTES);
  overlay(box(ALPHA, "guest-rootfs.qcow2"), box(ALPHA, "rootfs-base"));
  overlay(box(ALPHA, "disk.qcow2"), imagePath(home));
  writeData(box(ALPHA, "disk.qcow2"), 0xab);
  writeFile(box(BETA, "disks", "rootfs-base"), BETA_BASE_BYTES);
  overlay(box(BETA, "guest-rootfs.qcow2"), box(BETA, "disks", "rootfs-base"));
  writeData(box(BETA, "guest-rootfs.qcow2"), 0xcd);
  overlay(box(BETA, "disk.qcow2"), imagePath(home));
  mkdirSync(box(GAMMA), { recursive: true });
  const gone = join(home, "images", "guest-cache", "gone.ext4");
  writeFile(gone, fillBytes(4, MiB));
  overlay(box(DELTA, "guest-rootfs.qcow2"), gone);
  rmSync(gone);
  if (version === 6) overlay(box(ALPHA, "snapshots", "before-upgrade", "disk.qcow2"), imagePath(home));
}

function writeNewLayout(home: string): void {
  const disks = (id: string, name: string) => join(home, "boxes", id, "disks", name);
  writeFile(imagePath(home), IMAGE_BYTES);
  writeFile(join(home, "bases", "Base0001.ext4"), ALPHA_BASE_BYTES);
  writeFile(join(home, "bases", "Base0002.ext4"), BETA_BASE_BYTES);
  overlay(disks(ALPHA, "guest-rootfs.qcow2"), join(home, "bases", "Base0001.ext4"));
  overlay(disks(ALPHA, "disk.qcow2"), imagePath(home));
  writeData(disks(ALPHA, "disk.qcow2"), 0xab);
  overlay(disks(BETA, "guest-rootfs.qcow2"), join(home, "bases", "Base0002.ext4"));
  writeData(disks(BETA, "guest-rootfs.qcow2"), 0xcd);
  overlay(disks(BETA, "disk.qcow2"), imagePath(home));
  mkdirSync(join(home, "boxes", GAMMA, "disks"), { recursive: true });
  const gone = join(home, "images", "guest-cache", "gone.ext4");
  writeFile(gone, fillBytes(4, MiB));
  overlay(disks(DELTA, "guest-rootfs.qcow2"), gone);
  rmSync(gone);
  overlay(join(home, "boxes", ALPHA, "snapshots", "before-upgrade", "disk.qcow2"), imagePath(home));
}

/** The state a crash leaves after the live disk was renamed into the snapshot, before its COW child. */
function interruptSnapshot(home: string): void {
  const box = join(home, "boxes", BETA);
  const snapshotDir = join(box, "snapshots", "interrupted");
  mkdirSync(snapshotDir, { recursive: true });
  renameSync(join(box, "disk.qcow2"), join(snapshotDir, "disk.qcow2"));
  writeFileSync(join(box, ".snapshot_pending"), JSON.stringify({ snapshot_dir: snapshotDir, container_disk: join(box, "disk.qcow2") }));
}
