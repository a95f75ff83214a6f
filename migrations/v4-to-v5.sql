-- v4 → v5: the first snapshot table (replaced by box_snapshot in v6, whose step drops it).
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY NOT NULL,
    box_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    FOREIGN KEY (box_id) REFERENCES box_config(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS idx_snapshots_box_id ON snapshots(box_id);
CREATE UNIQUE INDEX IF NOT EXISTS idx_snapshots_box_name ON snapshots(box_id, name);
