-- v6 → v7, the tables (the files and rows are src/db/steps/v6-to-v7.ts): base disks
-- (clone bases, rootfs bases), which box depends on which base, and snapshots as JSON
-- rows. Frozen as v7 created them: later columns belong to later steps.
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

CREATE TABLE IF NOT EXISTS snapshot (
    id TEXT PRIMARY KEY NOT NULL,
    box_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    json TEXT NOT NULL,
    UNIQUE(box_id, name)
);
CREATE INDEX IF NOT EXISTS idx_snapshot_box ON snapshot(box_id);

CREATE TABLE IF NOT EXISTS base_disk_ref (
    base_disk_id TEXT NOT NULL,
    box_id TEXT NOT NULL,
    PRIMARY KEY (base_disk_id, box_id)
);
