/**
 * The few fields a box listing shows, read straight from the blobs without the full
 * record validation of boxes.ts: `ls` on a home of thousands of boxes must cost little
 * more than starting the process (scripts/bench/home.ts). Measured on 1,000 boxes,
 * JSON.parse in JavaScript beats SQLite's json_extract (about 3 ms against 5 ms).
 */
import type { Database } from "bun:sqlite";
import { type BoxStatus, parseBoxStatus } from "./box-status.ts";
import { corrupt } from "./json.ts";

export interface BoxSummary {
  id: string;
  name: string | null;
  /** RFC 3339, as the box's config says. */
  createdAt: string;
  updatedAt: string | null;
  status: BoxStatus;
  pid: number | null;
  /** `options.rootfs`: the image reference, or the rootfs path. */
  image: string;
  cpus: number | null;
  memoryMib: number | null;
  exitCode: number | null;
  errorReason: string | null;
  /** `options.auto_remove`: the box is removed when it stops. */
  autoRemove: boolean;
}

type SummaryRow = [id: string, name: string | null, columnStatus: string, pid: number | null, config: string, state: string];

function summarySql(activeOnly: boolean): string {
  // The status column is indexed and written with the JSON status (boxes.ts updateBoxState).
  const where = activeOnly ? "WHERE s.status IN ('running', 'paused')" : "";
  return `SELECT c.id, c.name, s.status, s.pid, c.json, s.json
    FROM box_config c JOIN box_state s ON s.id = c.id ${where}
    ORDER BY c.created_at DESC, c.rowid DESC`;
}

const number = (value: unknown): number | null => (typeof value === "number" ? value : null);
const text = (value: unknown): string | null => (typeof value === "string" ? value : null);

/** `rootfs` is `{"Image": ref}` or `{"RootfsPath": path}` (a serde enum). */
export function imageOf(rootfs: unknown): string {
  if (rootfs && typeof rootfs === "object") {
    const variant = rootfs as Record<string, unknown>;
    return text(variant.Image) ?? text(variant.RootfsPath) ?? "";
  }
  return text(rootfs) ?? "";
}

function parseBlob(json: string, what: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // Reported below, naming the box.
  }
  throw corrupt(what, "it does not parse as a JSON object");
}

/**
 * The listing fields of every box (or only those with a VM), newest first. A damaged
 * blob is an error naming its box.
 */
export function listBoxSummaries(db: Database, options: { activeOnly?: boolean } = {}): BoxSummary[] {
  // values(): positional rows, cheaper than objects; the SELECT fixes their shape.
  const rows = db.query(summarySql(options.activeOnly ?? false)).values() as SummaryRow[];
  return rows.map(([id, name, columnStatus, pid, configJson, stateJson]) => {
    const what = `box ${id}`;
    const config = parseBlob(configJson, `${what}: box_config.json`);
    const state = parseBlob(stateJson, `${what}: box_state.json`);
    const options = (config.options ?? {}) as Record<string, unknown>;
    const rawStatus = text(state.status) ?? columnStatus;
    const status = parseBoxStatus(rawStatus);
    if (status === undefined) throw corrupt(what, `status ${JSON.stringify(rawStatus)} is not a known box status`);
    const createdAt = text(config.created_at);
    if (createdAt === null) throw corrupt(what, 'its config has no "created_at"');
    return {
      id,
      name,
      createdAt,
      updatedAt: text(state.last_updated),
      status,
      pid: number(state.pid) ?? pid,
      image: imageOf(options.rootfs),
      cpus: number(options.cpus),
      memoryMib: number(options.memory_mib),
      exitCode: number(state.exit_code),
      errorReason: text(state.error_reason),
      autoRemove: options.auto_remove === true,
    };
  });
}
