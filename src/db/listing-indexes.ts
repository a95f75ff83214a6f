/**
 * Our two listing indexes. `ls --all` on a home of thousands of boxes must cost little
 * more than starting the process (scripts/bench/home.ts), and reading and parsing every
 * box's two JSON blobs was most of its cost (1,000 boxes: 800 kB of blobs). So two
 * indexes of our own hold each box's listing fields, extracted by SQLite and already
 * typed (a string, a number, or NULL when the blob has something else there), and the
 * listing (box-summaries.ts) reads them from the indexes alone, in the config index's
 * order: no blob is read, no row is sorted, and no JSON is parsed, by SQLite or by us.
 *
 * The indexes are additions to the reference's schema v9, never changes to it: the
 * reference opens such a home as before. SQLite keeps them in step within every write,
 * whoever writes — this boxlite, an older one, the reference (its own migrations use
 * json_extract, so its SQLite has the JSON functions) or the sqlite3 shell — so they
 * are never stale, unlike a cache. A blob that is not a JSON object gives NULLs in the
 * index, never a failed write; the listing then reads that box's blobs, to report it.
 */
import type { Database } from "bun:sqlite";

/**
 * A read of a box blob, `otherwise` (NULL by default) unless `json` holds a JSON object.
 * The CASEs guard json_type, which fails on invalid JSON: a damaged blob must not fail a write.
 */
function guarded(json: string, read: string, otherwise?: string): string {
  const orElse = otherwise === undefined ? "" : ` ELSE ${otherwise}`;
  return `CASE WHEN json_valid(${json}) THEN CASE json_type(${json}) WHEN 'object' THEN ${read}${orElse} END${orElse} END`;
}

/** The value at `path` when it is a JSON string, else NULL. */
function textAt(json: string, path: string): string {
  return `CASE json_type(${json}, '${path}') WHEN 'text' THEN json_extract(${json}, '${path}') END`;
}

/** Whether the JSON type at `path` is one of `types` ('absent' for a path that is not there). */
function typeIn(json: string, path: string, types: string[]): string {
  return `coalesce(json_type(${json}, '${path}'), 'absent') IN (${types.map((type) => `'${type}'`).join(", ")})`;
}

/** The value at `path` when it is a JSON number, else NULL. */
function numberAt(json: string, path: string): string {
  const value = `json_extract(${json}, '${path}')`;
  return `CASE json_type(${json}, '${path}') WHEN 'integer' THEN ${value} WHEN 'real' THEN ${value} END`;
}

/**
 * The listing's fields of BoxConfig, as SQL over its blob column `json` ("json" in an
 * index, "c.json" in a query: SQLite reads an indexed expression from the index only
 * when the query spells it the same way).
 */
export const configField = {
  /**
   * 1 when the blob is one the full reader (boxes.ts readConfig) takes: an object with a
   * string id and created_at, and options and name of the right type when present; else 0.
   */
  wellFormed: (json: string) =>
    guarded(
      json,
      `${typeIn(json, "$.id", ["text"])} AND ${typeIn(json, "$.created_at", ["text"])} AND ` +
        `${typeIn(json, "$.options", ["object", "null", "absent"])} AND ${typeIn(json, "$.name", ["text", "null", "absent"])}`,
      "0",
    ),
  /** RFC 3339: the creation instant to the millisecond or finer (the column holds whole seconds). */
  createdAt: (json: string) => guarded(json, textAt(json, "$.created_at")),
  /** `options.rootfs`: the `Image` or `RootfsPath` of the serde enum, or a plain string (imageOf's rule, runtime/box-view.ts). */
  image: (json: string) =>
    guarded(json, `coalesce(${textAt(json, "$.options.rootfs.Image")}, ${textAt(json, "$.options.rootfs.RootfsPath")}, ${textAt(json, "$.options.rootfs")})`),
  cpus: (json: string) => guarded(json, numberAt(json, "$.options.cpus")),
  memoryMib: (json: string) => guarded(json, numberAt(json, "$.options.memory_mib")),
  /**
   * 1 when the box is removed as it stops, else 0: `options.auto_delete` > 0 when it is a
   * number, else `options.auto_remove` being true (the reference's rule, and the codec's:
   * model/fields.ts autoRemove).
   */
  autoRemove: (json: string) =>
    guarded(
      json,
      `CASE WHEN json_type(${json}, '$.options.auto_delete') IN ('integer', 'real') THEN json_extract(${json}, '$.options.auto_delete') > 0 ` +
        `ELSE json_type(${json}, '$.options.auto_remove') = 'true' END`,
    ),
};

/** The listing's fields of BoxState, as configField. */
export const stateField = {
  /**
   * 1 when the blob is one the full reader (boxes.ts readState) takes: an object whose
   * status, when present, is a string and whose pid, when present, an integer; else 0.
   * (Whether the status is a known one is checked on the mapped value, see box-summaries.ts.)
   */
  wellFormed: (json: string) =>
    guarded(
      json,
      `${typeIn(json, "$.status", ["text", "null", "absent"])} AND (${typeIn(json, "$.pid", ["integer", "null", "absent"])} OR ` +
        `(json_type(${json}, '$.pid') = 'real' AND json_extract(${json}, '$.pid') = CAST(json_extract(${json}, '$.pid') AS INTEGER)))`,
      "0",
    ),
  status: (json: string) => guarded(json, textAt(json, "$.status")),
  pid: (json: string) => guarded(json, numberAt(json, "$.pid")),
  lastUpdated: (json: string) => guarded(json, textAt(json, "$.last_updated")),
  exitCode: (json: string) => guarded(json, numberAt(json, "$.exit_code")),
  errorReason: (json: string) => guarded(json, textAt(json, "$.error_reason")),
};

export const CONFIG_INDEX = "boxlite_box_config_listing_v5";
export const STATE_INDEX = "boxlite_box_state_listing_v5";
/**
 * Earlier definitions, dropped when the current ones are made. The first pair held each
 * blob's fields as one JSON array text, which the listing parsed per row; its config
 * index, keyed (created_at, id, …), also left same-second boxes to a sort by rowid. v2
 * fixed the order, v3 typed the fields, v4 added the well-formed flags, v5 reads remove-on-stop
 * as the reference does (auto_delete first).
 */
const RETIRED_INDEXES = [
  "boxlite_box_config_listing",
  "boxlite_box_config_listing_v2",
  "boxlite_box_config_listing_v3",
  "boxlite_box_config_listing_v4",
  "boxlite_box_state_listing",
  "boxlite_box_state_listing_v3",
  "boxlite_box_state_listing_v4",
];

/**
 * Newest first: by the created_at column (whole seconds), then by BoxConfig's created_at
 * (RFC 3339 UTC text, which orders as the instants do), then by id. The config index holds
 * exactly this order, so the listing needs no sort (one cost ~0.6 ms of a 1,000-box `ls`),
 * and unlike a tie broken by rowid it survives a VACUUM, which may renumber the rowids of
 * a table without an INTEGER PRIMARY KEY.
 */
export const NEWEST_FIRST = `ORDER BY c.created_at DESC, ${configField.createdAt("c.json")} DESC, c.id DESC`;

/** Creates the listing indexes when missing (a new home, a migrated one, one the reference made). */
export function ensureListingIndexes(db: Database): void {
  if (hasListingIndexes(db)) return;
  const config = configField;
  const state = stateField;
  db.transaction(() => {
    for (const name of RETIRED_INDEXES) db.run(`DROP INDEX IF EXISTS ${name}`);
    db.run(
      `CREATE INDEX IF NOT EXISTS ${CONFIG_INDEX} ON box_config(created_at, ${config.createdAt("json")}, id, name, ${config.wellFormed("json")}, ` +
        `${config.image("json")}, ${config.cpus("json")}, ${config.memoryMib("json")}, ${config.autoRemove("json")})`,
    );
    db.run(
      `CREATE INDEX IF NOT EXISTS ${STATE_INDEX} ON box_state(id, status, pid, ${state.wellFormed("json")}, ${state.status("json")}, ` +
        `${state.pid("json")}, ${state.lastUpdated("json")}, ${state.exitCode("json")}, ${state.errorReason("json")})`,
    );
  }).immediate();
}

export function hasListingIndexes(db: Database): boolean {
  const row = db
    .query<{ count: number }, []>(`SELECT count(*) AS count FROM sqlite_master WHERE type = 'index' AND name IN ('${CONFIG_INDEX}', '${STATE_INDEX}')`)
    .get();
  return row?.count === 2;
}
