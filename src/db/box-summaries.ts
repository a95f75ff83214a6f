/**
 * The few fields a box listing shows. `ls --all` on a home of thousands of boxes must
 * cost little more than starting the process (scripts/bench/home.ts), and reading and
 * parsing every box's two JSON blobs was most of its cost (1,000 boxes: 800 kB of blobs,
 * about 5 of the listing's 15 ms). So two indexes of our own hold each box's listing
 * fields, extracted by SQLite as a small JSON array, and `ls --all` reads them from the
 * indexes alone, in the config index's order, without touching a blob or sorting.
 *
 * The indexes are additions to the reference's schema v9, never changes to it: the
 * reference opens such a home as before. SQLite keeps them in step within every write,
 * whoever writes — this boxlite, an older one, the reference (its own migrations use
 * json_extract, so its SQLite has the JSON functions) or the sqlite3 shell — so they
 * are never stale, unlike a cache. A blob that is not a JSON object gets NULL in the
 * index, never a failed write; such a row is read again from its blobs, to report it.
 */
import type { Database } from "bun:sqlite";
import { type BoxStatus, parseBoxStatus } from "./box-status.ts";
import { corrupt } from "./json.ts";

/**
 * What the CLI and the API show of a box: the REST contract's `Box` shape, plus the exit
 * code. The listing reads rows straight into it (no intermediate object per row, see
 * listBoxSummaries); runtime/box-view.ts makes the same from a full record.
 */
export interface BoxView {
  box_id: string;
  name: string | null;
  status: BoxStatus;
  /** RFC 3339, as the box's config says. */
  created_at: string;
  updated_at: string;
  pid: number | null;
  /** `options.rootfs`: the image reference, or the rootfs path. */
  image: string;
  cpus: number;
  memory_mib: number;
  exit_code: number | null;
  error_reason: string | null;
  /** The contract's AutoDelete: 1 when the box is removed as soon as it stops (local semantics, any N > 0), else 0. */
  auto_delete: number;
}

/** What a box's options default to when its record leaves them out (the runtime's creation defaults). */
export interface ListingDefaults {
  cpus: number;
  memoryMib: number;
}

/** BoxConfig's RFC 3339 `created_at`: the creation instant to the millisecond or finer (the column holds whole seconds). */
const CREATED_AT_PATH = ["$.created_at"];
/** The listing fields of each blob, in the order of the arrays below. */
const CONFIG_PATHS = ["$.created_at", "$.options.rootfs", "$.options.cpus", "$.options.memory_mib", "$.options.auto_remove"];
const STATE_PATHS = ["$.status", "$.pid", "$.last_updated", "$.exit_code", "$.error_reason"];
type ConfigFields = [createdAt: unknown, rootfs: unknown, cpus: unknown, memoryMib: unknown, autoRemove: unknown];
type StateFields = [status: unknown, pid: unknown, lastUpdated: unknown, exitCode: unknown, errorReason: unknown];

/**
 * The fields of `column` as one JSON array (multi-path json_extract), NULL when the blob
 * is not a JSON object (nested CASEs: json_type would fail on invalid JSON). The index
 * and the query must spell the same expression for SQLite to read it from the index.
 */
function fieldsOf(column: string, paths: string[]): string {
  const extract = `json_extract(${column}, ${paths.map((path) => `'${path}'`).join(", ")})`;
  return `CASE WHEN json_valid(${column}) THEN CASE json_type(${column}) WHEN 'object' THEN ${extract} END END`;
}

const CONFIG_INDEX = "boxlite_box_config_listing_v2";
const STATE_INDEX = "boxlite_box_state_listing";
/**
 * Earlier definitions of our indexes, dropped when the current ones are made. The first
 * config index, keyed (created_at, id, …), left same-second boxes to a sort by rowid.
 */
const RETIRED_INDEXES = ["boxlite_box_config_listing"];

/**
 * Newest first: by the created_at column (whole seconds), then by BoxConfig's created_at
 * (RFC 3339 UTC text, which orders as the instants do), then by id. The config index holds
 * exactly this order, so the listing needs no sort (one cost ~0.6 ms of a 1,000-box `ls`),
 * and unlike a tie broken by rowid it survives a VACUUM, which may renumber the rowids of
 * a table without an INTEGER PRIMARY KEY.
 */
export const NEWEST_FIRST = `ORDER BY c.created_at DESC, ${fieldsOf("c.json", CREATED_AT_PATH)} DESC, c.id DESC`;

/** Creates the listing indexes when missing (a new home, a migrated one, one the reference made). */
export function ensureListingIndexes(db: Database): void {
  if (hasListingIndexes(db)) return;
  db.transaction(() => {
    for (const name of RETIRED_INDEXES) db.run(`DROP INDEX IF EXISTS ${name}`);
    db.run(`CREATE INDEX IF NOT EXISTS ${CONFIG_INDEX} ON box_config(created_at, ${fieldsOf("json", CREATED_AT_PATH)}, id, name, ${fieldsOf("json", CONFIG_PATHS)})`);
    db.run(`CREATE INDEX IF NOT EXISTS ${STATE_INDEX} ON box_state(id, status, pid, ${fieldsOf("json", STATE_PATHS)})`);
  }).immediate();
}

export function hasListingIndexes(db: Database): boolean {
  const row = db.query<{ count: number }, []>(`SELECT count(*) AS count FROM sqlite_master WHERE type = 'index' AND name IN ('${CONFIG_INDEX}', '${STATE_INDEX}')`).get();
  return row?.count === 2;
}

type SummaryRow = [id: string, name: string | null, columnStatus: string, pid: number | null, fields: string];

/** Both blobs' fields as `[config fields, state fields]`, one JSON.parse per row. */
const FIELDS = `'[' || coalesce(${fieldsOf("c.json", CONFIG_PATHS)}, 'null') || ',' || coalesce(${fieldsOf("s.json", STATE_PATHS)}, 'null') || ']'`;
// Every box: read from the two indexes alone (the planner does not pick them by itself).
const ALL_SQL = `SELECT c.id, c.name, s.status, s.pid, ${FIELDS}
  FROM box_config c INDEXED BY ${CONFIG_INDEX} JOIN box_state s INDEXED BY ${STATE_INDEX} ON s.id = c.id ${NEWEST_FIRST}`;
// The few boxes with a VM: found through the status index; SQLite extracts their fields from the blobs.
const ACTIVE_SQL = `SELECT c.id, c.name, s.status, s.pid, ${FIELDS}
  FROM box_config c JOIN box_state s ON s.id = c.id WHERE s.status IN ('running', 'paused') ${NEWEST_FIRST}`;

/** The listing's SELECT (tests check its query plan). */
export function listingSql(activeOnly: boolean): string {
  return activeOnly ? ACTIVE_SQL : ALL_SQL;
}

/** `rootfs` is `{"Image": ref}` or `{"RootfsPath": path}` (a serde enum). No calls: `ls` asks for every box. */
export function imageOf(rootfs: unknown): string {
  if (typeof rootfs === "string") return rootfs;
  if (rootfs === null || typeof rootfs !== "object") return "";
  const variant = rootfs as Record<string, unknown>;
  if (typeof variant.Image === "string") return variant.Image;
  return typeof variant.RootfsPath === "string" ? variant.RootfsPath : "";
}

function parseBlob(json: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    // Reported below, naming the box.
  }
  if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  throw corrupt(what, "it does not parse as a JSON object");
}

/** The fields of a row the index could not give (a blob that is not valid JSON), read from its blobs: reports the damage. */
function fieldsFromBlobs(db: Database, id: string): [ConfigFields, StateFields] {
  const blobs = db.query("SELECT c.json, s.json FROM box_config c JOIN box_state s ON s.id = c.id WHERE c.id = ?1").values(id)[0];
  if (!blobs) throw corrupt(`box ${id}`, "it vanished while being listed");
  const config = parseBlob(String(blobs[0]), `box ${id}: box_config.json`);
  const state = parseBlob(String(blobs[1]), `box ${id}: box_state.json`);
  const options = (config.options ?? {}) as Record<string, unknown>;
  return [
    [config.created_at, options.rootfs, options.cpus, options.memory_mib, options.auto_remove],
    [state.status, state.pid, state.last_updated, state.exit_code, state.error_reason],
  ];
}

/**
 * The listing of every box (or only those with a VM), newest first. A damaged blob is an
 * error naming its box.
 */
export function listBoxSummaries(db: Database, defaults: ListingDefaults, options: { activeOnly?: boolean } = {}): BoxView[] {
  // values(): positional rows, cheaper than objects; the SELECT fixes their shape.
  const rows = db.query(listingSql(options.activeOnly ?? false)).values() as SummaryRow[];
  // One plain loop, fields read by index and checked inline: a short-lived `ls` lists its
  // thousand rows before the JIT pays off, and every call per row costs, destructuring
  // too (it runs the iterator protocol). Measured: about 2.5 ms of a 1,000-box listing.
  const boxes = new Array<BoxView>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as SummaryRow;
    const id = row[0];
    const parsed = JSON.parse(row[4]) as [ConfigFields | null, StateFields | null];
    const fields = parsed[0] && parsed[1] ? (parsed as [ConfigFields, StateFields]) : fieldsFromBlobs(db, id);
    const config = fields[0];
    const state = fields[1];
    const rawStatus = typeof state[0] === "string" ? state[0] : row[2];
    const status = parseBoxStatus(rawStatus);
    if (status === undefined) throw corrupt(`box ${id}`, `status ${JSON.stringify(rawStatus)} is not a known box status`);
    const createdAt = config[0];
    if (typeof createdAt !== "string") throw corrupt(`box ${id}`, 'its config has no "created_at"');
    boxes[i] = {
      box_id: id,
      name: row[1],
      status,
      created_at: createdAt,
      updated_at: typeof state[2] === "string" ? state[2] : createdAt,
      pid: typeof state[1] === "number" ? state[1] : row[3],
      image: imageOf(config[1]),
      cpus: typeof config[2] === "number" ? config[2] : defaults.cpus,
      memory_mib: typeof config[3] === "number" ? config[3] : defaults.memoryMib,
      exit_code: typeof state[3] === "number" ? state[3] : null,
      error_reason: typeof state[4] === "string" ? state[4] : null,
      auto_delete: config[4] === true ? 1 : 0,
    };
  }
  return boxes;
}
