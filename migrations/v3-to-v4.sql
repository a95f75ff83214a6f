-- v3 → v4: the image index moves from a JSON file into the database.
CREATE TABLE IF NOT EXISTS image_index (
    reference TEXT PRIMARY KEY NOT NULL,
    manifest_digest TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    layers TEXT NOT NULL,
    cached_at TEXT NOT NULL,
    complete INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS idx_image_index_manifest_digest ON image_index(manifest_digest);
