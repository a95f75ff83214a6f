/**
 * `box_config` (set at creation) and `box_state` (changes over the box's life): indexed
 * columns plus the reference's JSON blobs, BoxConfig and BoxState (docs/database.md).
 * Blobs are kept as JSON objects, so fields this version does not know survive every
 * rewrite.
 */
import type { Database } from "bun:sqlite";
import { BoxliteError } from "../util/errors.ts";
import { type BoxStatus, parseBoxStatus } from "./box-status.ts";
import { NEWEST_FIRST } from "./listing-indexes.ts";
import { type JsonObject, type JsonValue, corrupt, isJsonObject, optionalInteger, parseJsonObject, requireString } from "./json.ts";
import { isConstraintViolation } from "./sqlite-errors.ts";

/** BoxConfig: `{id, name, created_at, container{id}, options, engine_kind, box_home}`. */
export interface BoxConfigJson {
  [key: string]: JsonValue | undefined;
  id: string;
  name?: string | null;
  /** RFC 3339 (the column holds the same instant in unix seconds). */
  created_at: string;
  /** `{id}`: the 64-hex container id. */
  container?: JsonObject;
  /** BoxOptions, as the reference serialises them (runtime/options.rs). */
  options: JsonObject;
  engine_kind?: string;
  box_home?: string;
}

/** BoxState: `{status, pid, container_id, last_updated, lock_id, health_status, error_reason, exit_code}`. */
export interface BoxStateJson {
  [key: string]: JsonValue | undefined;
  status: BoxStatus;
  pid?: number | null;
  container_id?: string | null;
  /** RFC 3339. */
  last_updated?: string;
  lock_id?: number | null;
  health_status?: JsonObject;
  error_reason?: string | null;
  exit_code?: number | null;
  /** Ours (the reference ignores it): the VMM backend that ran the box last, "qemu" or "krun". */
  vmm?: string;
  /** Ours: the ports the running box publishes, as bound (box-summaries.ts PublishedPortView); [] once it stops. */
  published_ports?: Array<{ host_ip: string; host_port: number; guest_port: number; protocol: "tcp" }>;
}

export interface BoxRecord {
  id: string;
  name: string | null;
  /** Unix seconds. */
  createdAt: number;
  status: BoxStatus;
  pid: number | null;
  config: BoxConfigJson;
  state: BoxStateJson;
}

interface BoxRow {
  id: string;
  name: string | null;
  created_at: number;
  config_json: string;
  status: string;
  pid: number | null;
  state_json: string;
}

const SELECT = `SELECT c.id, c.name, c.created_at, c.json AS config_json, s.status, s.pid, s.json AS state_json
  FROM box_config c JOIN box_state s ON s.id = c.id`;

function readConfig(text: string, id: string): BoxConfigJson {
  const what = `box ${id}: box_config.json`;
  const object = parseJsonObject(text, what);
  const options = object.options ?? {};
  if (!isJsonObject(options)) throw corrupt(what, 'field "options" is not an object');
  const name = object.name;
  if (name !== undefined && name !== null && typeof name !== "string") throw corrupt(what, 'field "name" is not a string');
  return { ...object, id: requireString(object, "id", what), created_at: requireString(object, "created_at", what), options };
}

function readState(text: string, id: string, columnStatus: string): BoxStateJson {
  const what = `box ${id}: box_state.json`;
  const object = parseJsonObject(text, what);
  const raw = object.status ?? columnStatus;
  const status = typeof raw === "string" ? parseBoxStatus(raw) : undefined;
  if (status === undefined) throw corrupt(what, `status ${JSON.stringify(raw)} is not a known box status`);
  optionalInteger(object, "pid", what);
  return { ...object, status };
}

function toRecord(row: BoxRow): BoxRecord {
  const state = readState(row.state_json, row.id, row.status);
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at,
    status: state.status,
    pid: state.pid ?? row.pid,
    config: readConfig(row.config_json, row.id),
    state,
  };
}

/** Persists a new box (config and state in one transaction). A taken name or id is already_exists. */
export function insertBox(db: Database, config: BoxConfigJson, state: BoxStateJson): void {
  const createdMs = Date.parse(config.created_at);
  if (Number.isNaN(createdMs)) throw new BoxliteError("invalid_argument", `box ${config.id}: created_at "${config.created_at}" is not an RFC 3339 time`);
  if (parseBoxStatus(state.status) === undefined) throw new BoxliteError("invalid_argument", `box ${config.id}: unknown status "${state.status}"`);
  try {
    db.transaction(() => {
      db.query("INSERT INTO box_config (id, name, created_at, json) VALUES (?1, ?2, ?3, ?4)").run(
        config.id,
        config.name ?? null,
        Math.floor(createdMs / 1000),
        JSON.stringify(config),
      );
      db.query("INSERT INTO box_state (id, status, pid, json) VALUES (?1, ?2, ?3, ?4)").run(config.id, state.status, state.pid ?? null, JSON.stringify(state));
    }).immediate();
  } catch (error) {
    if (!isConstraintViolation(error)) throw error;
    const taken = config.name != null && getBoxByName(db, config.name) !== undefined ? `the name "${config.name}"` : `the id ${config.id}`;
    throw new BoxliteError("already_exists", `${taken} is already used by another box; choose another`);
  }
}

export function getBox(db: Database, id: string): BoxRecord | undefined {
  const row = db.query<BoxRow, [string]>(`${SELECT} WHERE c.id = ?1`).get(id);
  return row === null ? undefined : toRecord(row);
}

/** Box `id`'s state alone, for a hot path: without the config, whose parse is most of a record's cost. */
export function getBoxState(db: Database, id: string): BoxStateJson | undefined {
  const row = db.query<{ status: string; json: string }, [string]>("SELECT status, json FROM box_state WHERE id = ?1").get(id);
  return row === null ? undefined : readState(row.json, id, row.status);
}

export function getBoxByName(db: Database, name: string): BoxRecord | undefined {
  const row = db.query<BoxRow, [string]>(`${SELECT} WHERE c.name = ?1`).get(name);
  return row === null ? undefined : toRecord(row);
}

/** Boxes whose id starts with `prefix`, newest first. */
export function findBoxesByIdPrefix(db: Database, prefix: string): BoxRecord[] {
  if (prefix === "") return [];
  // substr, not LIKE: ids may contain "_", which LIKE reads as a wildcard.
  const rows = db.query<BoxRow, [string]>(`${SELECT} WHERE substr(c.id, 1, length(?1)) = ?1 ${NEWEST_FIRST}`).all(prefix);
  return rows.map(toRecord);
}

/**
 * The box a user means by `idOrName`: the exact id, else the exact name, else the one
 * box whose id starts with it. Undefined when nothing matches; an ambiguous prefix is
 * an error that lists the candidates.
 */
export function resolveBox(db: Database, idOrName: string): BoxRecord | undefined {
  const found = getBox(db, idOrName) ?? getBoxByName(db, idOrName);
  if (found !== undefined) return found;
  const matches = findBoxesByIdPrefix(db, idOrName);
  if (matches.length > 1) {
    const ids = matches
      .slice(0, 5)
      .map((box) => box.id)
      .join(", ");
    throw new BoxliteError("invalid_argument", `"${idOrName}" matches ${matches.length} boxes (${ids}${matches.length > 5 ? ", …" : ""}); give more of the id`);
  }
  return matches[0];
}

/** resolveBox, or a not_found error saying where to look. */
export function resolveExistingBox(db: Database, idOrName: string): BoxRecord {
  const box = resolveBox(db, idOrName);
  if (!box) throw new BoxliteError("not_found", `no box ${JSON.stringify(idOrName)}; see 'boxlite ls -a'`);
  return box;
}

export interface ListBoxesOptions {
  /** Only boxes in one of these statuses (legacy values in the column included). */
  statuses?: readonly BoxStatus[];
}

/** Every box's id (cheap: the home's orphan sweep asks at each open). */
export function listBoxIds(db: Database): string[] {
  return db
    .query<{ id: string }, []>("SELECT id FROM box_config")
    .all()
    .map((row) => row.id);
}

/** Boxes, newest first. */
export function listBoxes(db: Database, options: ListBoxesOptions = {}): BoxRecord[] {
  const rows = db.query<BoxRow, []>(`${SELECT} ${NEWEST_FIRST}`).all();
  const records = rows.map(toRecord);
  const statuses = options.statuses;
  return statuses === undefined ? records : records.filter((box) => statuses.includes(box.status));
}

/**
 * Merges `patch` into the box's state (fields not in the patch, known or not, are kept)
 * and updates the status and pid columns with it, in one transaction. `check` sees the
 * current and the next state first, in the transaction, and may refuse by throwing.
 * Returns the new state.
 */
export function updateBoxState(
  db: Database,
  id: string,
  patch: Partial<BoxStateJson>,
  check?: (current: BoxStateJson, next: BoxStateJson) => void,
): BoxStateJson {
  return db
    .transaction(() => {
      const current = getBoxState(db, id);
      if (current === undefined) throw new BoxliteError("not_found", `no box with id ${id}`);
      const next: BoxStateJson = { ...current };
      for (const [key, value] of Object.entries(patch)) {
        if (value !== undefined) next[key] = value;
      }
      if (parseBoxStatus(next.status) === undefined) throw new BoxliteError("invalid_argument", `box ${id}: unknown status "${next.status}"`);
      check?.(current, next);
      db.query("UPDATE box_state SET status = ?1, pid = ?2, json = ?3 WHERE id = ?4").run(next.status, next.pid ?? null, JSON.stringify(next), id);
      return next;
    })
    .immediate();
}

/**
 * Removes the box's rows: config, state (by cascade), its snapshot rows and its base
 * references, in one transaction. Files are the caller's. False when there was no box.
 */
export function deleteBox(db: Database, id: string): boolean {
  return db
    .transaction(() => {
      db.query("DELETE FROM snapshot WHERE box_id = ?1").run(id);
      db.query("DELETE FROM base_disk_ref WHERE box_id = ?1").run(id);
      // The foreign key would cascade this; explicit so it holds on any connection.
      db.query("DELETE FROM box_state WHERE id = ?1").run(id);
      return db.query("DELETE FROM box_config WHERE id = ?1").run(id).changes > 0;
    })
    .immediate();
}
