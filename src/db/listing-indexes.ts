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
import { isJsonObject, type JsonObject, type JsonValue } from "./json.ts";

/**
 * A read of a box blob, `otherwise` (NULL by default) unless `json` holds a JSON object.
 * The CASEs guard json_type, which fails on invalid JSON: a damaged blob must not fail a write.
 */
function guarded(json: string, read: string, otherwise?: string): string {
  const orElse = otherwise === undefined ? "" : ` ELSE ${otherwise}`;
  return `CASE WHEN json_valid(${json}) THEN CASE json_type(${json}) WHEN 'object' THEN ${read}${orElse} END${orElse} END`;
}

/** Whether the JSON type at `path` is one of `types` ('absent' for a path that is not there). */
function typeIn(json: string, path: string, types: string[]): string {
  return `coalesce(json_type(${json}, '${path}'), 'absent') IN (${types.map((type) => `'${type}'`).join(", ")})`;
}

/**
 * One listing field, defined once and read two ways: `sql` over a blob column (`json` in an
 * index, `c.json` in a query: SQLite reads an indexed expression from the index only when
 * the query spells it the same way), and `read` over the blob already parsed, for the full
 * reader (runtime/box-view.ts). Both give the same value, or null where the blob has
 * something of another type.
 */
export interface BlobField<T> {
  /** Unguarded: `field` wraps it so that a blob that is not a JSON object gives NULL. */
  expr(json: string): string;
  read(blob: JsonObject): T | null;
}

/** The value at `path` ("a.b" of `$.a.b`) of a parsed blob. */
function valueAt(blob: JsonObject, path: string): JsonValue | undefined {
  let value: JsonValue | undefined = blob;
  for (const key of path.split(".")) value = isJsonObject(value) ? value[key] : undefined;
  return value;
}

function text(path: string): BlobField<string> {
  return {
    expr: (json) => `CASE json_type(${json}, '$.${path}') WHEN 'text' THEN json_extract(${json}, '$.${path}') END`,
    read: (blob) => {
      const value = valueAt(blob, path);
      return typeof value === "string" ? value : null;
    },
  };
}

function number(path: string): BlobField<number> {
  const value = (json: string) => `json_extract(${json}, '$.${path}')`;
  return {
    expr: (json) => `CASE json_type(${json}, '$.${path}') WHEN 'integer' THEN ${value(json)} WHEN 'real' THEN ${value(json)} END`,
    read: (blob) => {
      const found = valueAt(blob, path);
      return typeof found === "number" ? found : null;
    },
  };
}

/** The first of `fields` that is not null. */
function firstOf<T>(...fields: BlobField<T>[]): BlobField<T> {
  return {
    expr: (json) => `coalesce(${fields.map((field) => field.expr(json)).join(", ")})`,
    read: (blob) => fields.map((field) => field.read(blob)).find((value) => value !== null) ?? null,
  };
}

/**
 * 1 when the box is removed as it stops, else 0: `options.auto_delete` > 0 when it is a
 * number, else `options.auto_remove` being true (the reference's rule). Null when the blob
 * says neither: the codec (model/fields.ts autoRemove) reads the option from this field.
 */
const removesOnStop: BlobField<number> = {
  expr: (json) =>
    `CASE WHEN json_type(${json}, '$.options.auto_delete') IN ('integer', 'real') THEN json_extract(${json}, '$.options.auto_delete') > 0 ` +
    `WHEN json_type(${json}, '$.options.auto_remove') IN ('true', 'false') THEN json_type(${json}, '$.options.auto_remove') = 'true' END`,
  read: (blob) => {
    const autoDelete = valueAt(blob, "options.auto_delete");
    if (typeof autoDelete === "number") return autoDelete > 0 ? 1 : 0;
    const autoRemove = valueAt(blob, "options.auto_remove");
    return typeof autoRemove === "boolean" ? (autoRemove ? 1 : 0) : null;
  },
};

/** `field` over a blob column, guarded (see guarded). */
/** An array at `path` as its minified JSON text (SQLite's json_extract of an array; JSON.stringify here). */
function arrayText(path: string): BlobField<string> {
  return {
    expr: (json) => `CASE json_type(${json}, '$.${path}') WHEN 'array' THEN json_extract(${json}, '$.${path}') END`,
    read: (blob) => {
      const value = valueAt(blob, path);
      return Array.isArray(value) ? JSON.stringify(value) : null;
    },
  };
}

/** `options.network`, the serde enum: "Disabled", or `{"Enabled": {...}}`; anything else says nothing (the default, enabled). */
const networkMode: BlobField<string> = {
  expr: (json) =>
    `CASE WHEN json_type(${json}, '$.options.network') = 'text' AND json_extract(${json}, '$.options.network') = 'Disabled' THEN 'disabled' ` +
    `WHEN json_type(${json}, '$.options.network.Enabled') = 'object' THEN 'enabled' END`,
  read: (blob) => {
    const network = valueAt(blob, "options.network");
    if (network === "Disabled") return "disabled";
    return isJsonObject(valueAt(blob, "options.network.Enabled")) ? "enabled" : null;
  },
};

export function sqlOf<T>(field: BlobField<T>, json: string): string {
  return guarded(json, field.expr(json));
}

/** The listing's fields of BoxConfig. */
export const configFields = {
  /** RFC 3339: the creation instant to the millisecond or finer (the column holds whole seconds). */
  createdAt: text("created_at"),
  /** `options.rootfs`: the `Image` or `RootfsPath` of the serde enum, or a plain string. */
  image: firstOf(text("options.rootfs.Image"), text("options.rootfs.RootfsPath"), text("options.rootfs")),
  cpus: number("options.cpus"),
  memoryMib: number("options.memory_mib"),
  removesOnStop,
  networkMode,
  allowNet: arrayText("options.network.Enabled.allow_net"),
  volumes: arrayText("options.volumes"),
};

/** The listing's fields of BoxState. */
export const stateFields = {
  status: text("status"),
  pid: number("pid"),
  lastUpdated: text("last_updated"),
  exitCode: number("exit_code"),
  errorReason: text("error_reason"),
  /** Ours: the ports the box publishes while it runs. */
  publishedPorts: arrayText("published_ports"),
};

/**
 * 1 when the config blob is one the full reader (boxes.ts readConfig) takes: an object with
 * a string id and created_at, and options and name of the right type when present; else 0.
 */
export function configWellFormed(json: string): string {
  return guarded(
    json,
    `${typeIn(json, "$.id", ["text"])} AND ${typeIn(json, "$.created_at", ["text"])} AND ` +
      `${typeIn(json, "$.options", ["object", "null", "absent"])} AND ${typeIn(json, "$.name", ["text", "null", "absent"])}`,
    "0",
  );
}

/**
 * 1 when the state blob is one the full reader (boxes.ts readState) takes: an object whose
 * status, when present, is a string and whose pid, when present, an integer; else 0.
 * (Whether the status is a known one is checked on the mapped value, see box-summaries.ts.)
 */
export function stateWellFormed(json: string): string {
  return guarded(
    json,
    `${typeIn(json, "$.status", ["text", "null", "absent"])} AND (${typeIn(json, "$.pid", ["integer", "null", "absent"])} OR ` +
      `(json_type(${json}, '$.pid') = 'real' AND json_extract(${json}, '$.pid') = CAST(json_extract(${json}, '$.pid') AS INTEGER)))`,
    "0",
  );
}

export const CONFIG_INDEX = "boxlite_box_config_listing_v7";
export const STATE_INDEX = "boxlite_box_state_listing_v7";
/**
 * Earlier definitions, dropped when the current ones are made. The first pair held each
 * blob's fields as one JSON array text, which the listing parsed per row; its config
 * index, keyed (created_at, id, …), also left same-second boxes to a sort by rowid. v2
 * fixed the order, v3 typed the fields, v4 added the well-formed flags, v5 read remove-on-stop
 * as the reference does (auto_delete first), v6 the same from the one field table (later
 * with the network's fields), v7 the volumes.
 */
const RETIRED_INDEXES = [
  "boxlite_box_config_listing",
  "boxlite_box_config_listing_v2",
  "boxlite_box_config_listing_v3",
  "boxlite_box_config_listing_v4",
  "boxlite_box_config_listing_v5",
  "boxlite_box_config_listing_v6",
  "boxlite_box_state_listing",
  "boxlite_box_state_listing_v3",
  "boxlite_box_state_listing_v4",
  "boxlite_box_state_listing_v5",
  "boxlite_box_state_listing_v6",
];

/**
 * Newest first: by the created_at column (whole seconds), then by BoxConfig's created_at
 * (RFC 3339 UTC text, which orders as the instants do), then by id. The config index holds
 * exactly this order, so the listing needs no sort (one cost ~0.6 ms of a 1,000-box `ls`),
 * and unlike a tie broken by rowid it survives a VACUUM, which may renumber the rowids of
 * a table without an INTEGER PRIMARY KEY.
 */
export const NEWEST_FIRST = `ORDER BY c.created_at DESC, ${sqlOf(configFields.createdAt, "c.json")} DESC, c.id DESC`;

/** Creates the listing indexes when missing (a new home, a migrated one, one the reference made). */
export function ensureListingIndexes(db: Database): void {
  if (hasListingIndexes(db)) return;
  const config = (field: BlobField<unknown>) => sqlOf(field, "json");
  const { createdAt, image, cpus, memoryMib, removesOnStop, networkMode, allowNet, volumes } = configFields;
  const { status, pid, lastUpdated, exitCode, errorReason, publishedPorts } = stateFields;
  db.transaction(() => {
    for (const name of RETIRED_INDEXES) db.run(`DROP INDEX IF EXISTS ${name}`);
    db.run(
      `CREATE INDEX IF NOT EXISTS ${CONFIG_INDEX} ON box_config(created_at, ${config(createdAt)}, id, name, ${configWellFormed("json")}, ` +
        `${config(image)}, ${config(cpus)}, ${config(memoryMib)}, ${config(removesOnStop)}, ${config(networkMode)}, ${config(allowNet)}, ${config(volumes)})`,
    );
    db.run(
      `CREATE INDEX IF NOT EXISTS ${STATE_INDEX} ON box_state(id, status, pid, ${stateWellFormed("json")}, ${config(status)}, ` +
        `${config(pid)}, ${config(lastUpdated)}, ${config(exitCode)}, ${config(errorReason)}, ${config(publishedPorts)})`,
    );
  }).immediate();
}

export function hasListingIndexes(db: Database): boolean {
  const row = db
    .query<{ count: number }, []>(`SELECT count(*) AS count FROM sqlite_master WHERE type = 'index' AND name IN ('${CONFIG_INDEX}', '${STATE_INDEX}')`)
    .get();
  return row?.count === 2;
}
