/**
 * The listing: every box (or those with a VM) as the CLI and the API show it, read from
 * our listing indexes alone (listing-indexes.ts explains why they exist).
 */
import type { Database } from "bun:sqlite";
import { BoxliteError } from "../util/errors.ts";
import { type BoxStatus, KNOWN_STATUSES, statusSql } from "./box-status.ts";
import { getBox } from "./boxes.ts";
import { corrupt } from "./json.ts";
import {
  CONFIG_INDEX,
  configFields as config,
  configWellFormed,
  NEWEST_FIRST,
  STATE_INDEX,
  sqlOf,
  stateFields as state,
  stateWellFormed,
} from "./listing-indexes.ts";

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
  network: BoxNetworkView;
  /** `options.volumes`: what the box mounts (the config index holds it as JSON text, null for most boxes). */
  volumes: VolumeView[];
  /** True when the box is suspended: stopped with a saved state that its next start resumes (docs/suspend.md; not in the record, the runtime adds it). */
  suspended?: boolean;
}

/** A volume as the record keeps it: the reference's VolumeSpec, plus ours `anonymous` and `volume`. */
export interface VolumeView {
  host_path: string;
  guest_path: string;
  read_only: boolean;
  /** A directory `create` made under the home (`-v BOX`). */
  anonymous?: boolean;
  /** The named volume's id (`-v NAME:BOX`). */
  volume?: string;
}

/** A port a running box publishes, as bound (the reference's BoxInfo.network.published_ports entries). */
export type PublishedPortView = {
  host_ip: string;
  host_port: number;
  guest_port: number;
  protocol: "tcp";
};

/** The box's network settings, and the ports it publishes while it runs. */
export interface BoxNetworkView {
  mode: "enabled" | "disabled";
  allow_net: string[];
  published_ports: PublishedPortView[];
}

function isPublishedPort(value: unknown): value is PublishedPortView {
  if (typeof value !== "object" || value === null) return false;
  const port = value as Record<string, unknown>;
  return typeof port.host_ip === "string" && typeof port.host_port === "number" && typeof port.guest_port === "number" && port.protocol === "tcp";
}

/**
 * The network view from the listing fields' values (listing-indexes.ts): JSON texts parsed
 * only when not empty, entries of a foreign shape left out, ports only while the box runs.
 */
export function networkView(mode: string | null, allowNet: string | null, publishedPorts: string | null, status: BoxStatus): BoxNetworkView {
  const parse = (text: string | null): unknown[] => (text === null || text === "[]" ? [] : (JSON.parse(text) as unknown[]));
  return {
    mode: mode === "disabled" ? "disabled" : "enabled",
    allow_net: parse(allowNet).filter((rule): rule is string => typeof rule === "string"),
    published_ports: status === "running" ? parse(publishedPorts).filter(isPublishedPort) : [],
  };
}

/** What a box's options default to when its record leaves them out (the runtime's creation defaults). */
export interface ListingDefaults {
  cpus: number;
  memoryMib: number;
}

const C = "c.json";
const S = "s.json";
/**
 * A BoxView per row, each field typed by SQLite from the indexes (listing-indexes.ts), so
 * Bun builds the objects natively: no per-row JSON or JS loop to decode them, which cost
 * ~1.2 ms of a 1,000-box `ls`. A row either blob of which the full reader (boxes.ts)
 * would refuse gets a NULL status, and listBoxSummaries has that reader report it: `ls`
 * and `inspect` agree on what is damaged, and say it in the same words.
 */
const COLUMNS = `c.id AS box_id, c.name AS name,
  CASE WHEN ${configWellFormed(C)} AND ${stateWellFormed(S)} THEN ${statusSql(`coalesce(${sqlOf(state.status, S)}, s.status)`)} END AS status,
  ${sqlOf(config.createdAt, C)} AS created_at,
  coalesce(${sqlOf(state.lastUpdated, S)}, ${sqlOf(config.createdAt, C)}) AS updated_at,
  coalesce(${sqlOf(state.pid, S)}, s.pid) AS pid,
  coalesce(${sqlOf(config.image, C)}, '') AS image,
  coalesce(${sqlOf(config.cpus, C)}, ?1) AS cpus,
  coalesce(${sqlOf(config.memoryMib, C)}, ?2) AS memory_mib,
  ${sqlOf(state.exitCode, S)} AS exit_code,
  ${sqlOf(state.errorReason, S)} AS error_reason,
  coalesce(${sqlOf(config.removesOnStop, C)}, 0) AS auto_delete,
  ${sqlOf(config.networkMode, C)} AS network_mode,
  ${sqlOf(config.allowNet, C)} AS allow_net,
  ${sqlOf(config.volumes, C)} AS volumes_json,
  ${sqlOf(state.publishedPorts, S)} AS published_ports`;
// Every box: read from the two indexes alone (the planner does not pick them by itself).
const ALL_SQL = `SELECT ${COLUMNS}
  FROM box_config c INDEXED BY ${CONFIG_INDEX} JOIN box_state s INDEXED BY ${STATE_INDEX} ON s.id = c.id ${NEWEST_FIRST}`;
// The few boxes with a VM (model/box-state.ts isActiveStatus: running or paused): found through the status index; SQLite reads their fields from the blobs.
const ACTIVE_SQL = `SELECT ${COLUMNS}
  FROM box_config c JOIN box_state s ON s.id = c.id WHERE s.status IN ('running', 'paused') ${NEWEST_FIRST}`;

/** The listing's SELECT (tests check its query plan). */
export function listingSql(activeOnly: boolean): string {
  return activeOnly ? ACTIVE_SQL : ALL_SQL;
}

/** Has the full reader say why the listing could not take box `id`'s row: always throws, naming the box. */
function reportDamage(db: Database, id: string): never {
  if (!getBox(db, id)) throw corrupt(`box ${id}`, "it vanished while being listed");
  // Whole on this second read: another process rewrote it in between.
  throw new BoxliteError("database", `box ${id} changed while being listed; list again`);
}

/**
 * The listing of every box (or only those with a VM), newest first. A damaged blob is an
 * error naming its box.
 */
export function listBoxSummaries(db: Database, defaults: ListingDefaults, options: { activeOnly?: boolean } = {}): BoxView[] {
  const rows = db.query<ListingRow, [number, number]>(listingSql(options.activeOnly ?? false)).all(defaults.cpus, defaults.memoryMib);
  // An indexed loop with a Set lookup, and the network fields turned into the view's object in place: a short-lived `ls` runs this cold.
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i] as ListingRow;
    if (!KNOWN_STATUSES.has(row.status)) reportDamage(db, row.box_id);
    const box = row as unknown as BoxView;
    box.network = networkView(row.network_mode, row.allow_net, row.published_ports, row.status);
    delete (row as Partial<ListingRow>).network_mode;
    delete (row as Partial<ListingRow>).allow_net;
    delete (row as Partial<ListingRow>).published_ports;
    box.volumes = volumesView(row.volumes_json);
    delete (row as Partial<ListingRow>).volumes_json;
  }
  return rows as unknown as BoxView[];
}

/** A listing row: the view's scalar fields, and the network's fields as the indexes hold them. */
type ListingRow = Omit<BoxView, "network"> & {
  network_mode: string | null;
  allow_net: string | null;
  published_ports: string | null;
  volumes_json: string | null;
};

/** `options.volumes` as the index holds it (JSON text, null for none); entries of another shape are not volumes (model/fields.ts reads them the same way). */
export function volumesView(text: string | null): VolumeView[] {
  if (text === null || text === "[]") return [];
  return (JSON.parse(text) as unknown[]).flatMap((entry): VolumeView[] => {
    if (typeof entry !== "object" || entry === null) return [];
    const { host_path, guest_path, read_only, anonymous, volume } = entry as Record<string, unknown>;
    if (typeof host_path !== "string" || typeof guest_path !== "string") return [];
    return [
      {
        host_path,
        guest_path,
        read_only: read_only === true,
        ...(anonymous === true ? { anonymous: true } : {}),
        ...(typeof volume === "string" ? { volume } : {}),
      },
    ];
  });
}
