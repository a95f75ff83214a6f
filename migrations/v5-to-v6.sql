-- v5 → v6: snapshots become external COW files in a per-snapshot directory. The v5
-- rows described nothing on disk that v6 could use, so they are dropped (as the
-- reference does).
DROP TABLE IF EXISTS snapshots;
CREATE TABLE IF NOT EXISTS box_snapshot (
    id TEXT PRIMARY KEY NOT NULL,
    box_id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    snapshot_dir TEXT NOT NULL,
    guest_disk_bytes INTEGER NOT NULL,
    container_disk_bytes INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL DEFAULT 0,
    FOREIGN KEY (box_id) REFERENCES box_config(id) ON DELETE CASCADE,
    UNIQUE(box_id, name)
);
