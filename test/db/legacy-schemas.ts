/**
 * The schema a boxlite of each version 2…8 created for a new home, reconstructed from
 * the reference's schema.rs and migration history. Written out here, not taken from
 * migrations/, so the tests do not check the chain against itself.
 */

const SCHEMA_VERSION_TABLE = `CREATE TABLE schema_version (
  id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at TEXT NOT NULL);`;

// v2 had no name column: names lived only in the JSON blob.
const BOX_CONFIG_V2 = `CREATE TABLE box_config (
  id TEXT PRIMARY KEY NOT NULL, created_at INTEGER NOT NULL, json TEXT NOT NULL);
CREATE INDEX idx_box_config_created_at ON box_config(created_at);`;

const BOX_CONFIG_V3 = `CREATE TABLE box_config (
  id TEXT PRIMARY KEY NOT NULL, name TEXT UNIQUE, created_at INTEGER NOT NULL, json TEXT NOT NULL);
CREATE INDEX idx_box_config_created_at ON box_config(created_at);
CREATE INDEX idx_box_config_name ON box_config(name);`;

const BOX_STATE_AND_ALIVE = `CREATE TABLE box_state (
  id TEXT PRIMARY KEY NOT NULL, status TEXT NOT NULL, pid INTEGER, json TEXT NOT NULL,
  FOREIGN KEY (id) REFERENCES box_config(id) ON DELETE CASCADE);
CREATE INDEX idx_box_state_status ON box_state(status);
CREATE INDEX idx_box_state_pid ON box_state(pid);
CREATE TABLE alive (id INTEGER PRIMARY KEY CHECK (id = 1), boot_id TEXT NOT NULL, started_at INTEGER NOT NULL);`;

const IMAGE_INDEX = `CREATE TABLE image_index (
  reference TEXT PRIMARY KEY NOT NULL, manifest_digest TEXT NOT NULL, config_digest TEXT NOT NULL,
  layers TEXT NOT NULL, cached_at TEXT NOT NULL, complete INTEGER NOT NULL DEFAULT 0);
CREATE INDEX idx_image_index_manifest_digest ON image_index(manifest_digest);`;

const SNAPSHOTS_V5 = `CREATE TABLE snapshots (
  id TEXT PRIMARY KEY NOT NULL, box_id TEXT NOT NULL, name TEXT NOT NULL,
  description TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL,
  FOREIGN KEY (box_id) REFERENCES box_config(id) ON DELETE CASCADE);
CREATE INDEX idx_snapshots_box_id ON snapshots(box_id);
CREATE UNIQUE INDEX idx_snapshots_box_name ON snapshots(box_id, name);`;

const BOX_SNAPSHOT_V6 = `CREATE TABLE box_snapshot (
  id TEXT PRIMARY KEY NOT NULL, box_id TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
  snapshot_dir TEXT NOT NULL, guest_disk_bytes INTEGER NOT NULL, container_disk_bytes INTEGER NOT NULL,
  size_bytes INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (box_id) REFERENCES box_config(id) ON DELETE CASCADE, UNIQUE(box_id, name));`;

const BASES_AND_SNAPSHOT_V7 = `CREATE TABLE base_disk (
  id TEXT PRIMARY KEY NOT NULL, source_box_id TEXT NOT NULL, name TEXT,
  kind TEXT NOT NULL CHECK(kind IN ('snapshot', 'clone_base', 'rootfs')), base_path TEXT NOT NULL,
  created_at INTEGER NOT NULL, json TEXT NOT NULL, UNIQUE(source_box_id, name));
CREATE INDEX idx_base_disk_source ON base_disk(source_box_id);
CREATE INDEX idx_base_disk_kind ON base_disk(kind);
CREATE INDEX idx_base_disk_path ON base_disk(base_path);
CREATE TABLE snapshot (
  id TEXT PRIMARY KEY NOT NULL, box_id TEXT NOT NULL, name TEXT NOT NULL, created_at INTEGER NOT NULL,
  json TEXT NOT NULL, UNIQUE(box_id, name));
CREATE INDEX idx_snapshot_box ON snapshot(box_id);
CREATE TABLE base_disk_ref (base_disk_id TEXT NOT NULL, box_id TEXT NOT NULL, PRIMARY KEY (base_disk_id, box_id));`;

const V3 = [SCHEMA_VERSION_TABLE, BOX_CONFIG_V3, BOX_STATE_AND_ALIVE];

export const LEGACY_SCHEMAS: Record<number, string> = {
  2: [SCHEMA_VERSION_TABLE, BOX_CONFIG_V2, BOX_STATE_AND_ALIVE].join("\n"),
  3: V3.join("\n"),
  4: [...V3, IMAGE_INDEX].join("\n"),
  5: [...V3, IMAGE_INDEX, SNAPSHOTS_V5].join("\n"),
  6: [...V3, IMAGE_INDEX, BOX_SNAPSHOT_V6].join("\n"),
  7: [...V3, IMAGE_INDEX, BASES_AND_SNAPSHOT_V7].join("\n"),
  8: [...V3, IMAGE_INDEX, BASES_AND_SNAPSHOT_V7].join("\n"),
};
