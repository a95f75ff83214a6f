-- v2 → v3: box names. SQLite cannot add a UNIQUE column, so uniqueness comes from a
-- unique index (NULLs stay distinct: any number of unnamed boxes). Names are backfilled
-- from the JSON blob, where v2 already kept them. A blob that is not JSON is skipped here
-- (json_extract would fail the whole step with no box named); v8 → v9 reports it by box.
ALTER TABLE box_config ADD COLUMN name TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS idx_box_config_name_unique ON box_config(name);
UPDATE box_config SET name = json_extract(json, '$.name') WHERE name IS NULL AND json_valid(json);
