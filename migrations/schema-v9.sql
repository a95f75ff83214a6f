-- boxlite schema v9: the reference's db/schema.rs, table for table, column for column.
-- Applied in one transaction to a home that has no database yet; the schema_version
-- row is written by src/db/database.ts in the same transaction.

CREATE TABLE IF NOT EXISTS schema_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS box_config (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT UNIQUE,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_box_config_created_at ON box_config(created_at);
CREATE INDEX IF NOT EXISTS idx_box_config_name ON box_config(name);

CREATE TABLE IF NOT EXISTS box_state (
    id TEXT PRIMARY KEY NOT NULL,
    status TEXT NOT NULL,
    pid INTEGER,
    json TEXT NOT NULL,
    FOREIGN KEY (id) REFERENCES box_config(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_box_state_status ON box_state(status);
CREATE INDEX IF NOT EXISTS idx_box_state_pid ON box_state(pid);

CREATE TABLE IF NOT EXISTS alive (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    boot_id TEXT NOT NULL,
    started_at INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS image_index (
    reference TEXT PRIMARY KEY NOT NULL,
    manifest_digest TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    layers TEXT NOT NULL,
    cached_at TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_image_index_manifest_digest ON image_index(manifest_digest);

CREATE TABLE IF NOT EXISTS base_disk (
    id TEXT PRIMARY KEY NOT NULL,
    source_box_id TEXT NOT NULL,
    name TEXT,
    kind TEXT NOT NULL CHECK(kind IN ('snapshot', 'clone_base', 'rootfs')),
    base_path TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL,
    UNIQUE(source_box_id, name)
);
CREATE INDEX IF NOT EXISTS idx_base_disk_source ON base_disk(source_box_id);
CREATE INDEX IF NOT EXISTS idx_base_disk_kind ON base_disk(kind);
CREATE INDEX IF NOT EXISTS idx_base_disk_path ON base_disk(base_path);

CREATE TABLE IF NOT EXISTS base_disk_ref (
    base_disk_id TEXT NOT NULL,
    box_id TEXT NOT NULL,
    PRIMARY KEY (base_disk_id, box_id)
);

CREATE TABLE IF NOT EXISTS snapshot (
    id TEXT PRIMARY KEY NOT NULL,
    box_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL,
    UNIQUE(box_id, name)
);
CREATE INDEX IF NOT EXISTS idx_snapshot_box ON snapshot(box_id);
