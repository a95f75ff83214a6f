/**
 * What the CLI and the API show of a box, read from its record in either boxlite's or
 * the reference's JSON (the REST contract's `Box` shape, plus the exit code).
 */
import type { BoxStatus } from "../db/box-status.ts";
import { type BoxSummary, imageOf } from "../db/box-summaries.ts";
import type { BoxRecord } from "../db/boxes.ts";
import type { JsonValue } from "../db/json.ts";
// Options a record leaves out take the defaults boxes are created with (as the reference's).
import { DEFAULT_CPUS, DEFAULT_MEMORY_MIB } from "./options.ts";

export interface BoxView {
  box_id: string;
  name: string | null;
  status: BoxStatus;
  created_at: string;
  updated_at: string;
  pid: number | null;
  image: string;
  cpus: number;
  memory_mib: number;
  exit_code: number | null;
  error_reason: string | null;
  /** The contract's AutoDelete: 1 when the box is removed as soon as it stops (local semantics, any N > 0), else 0. */
  auto_delete: number;
}

function numberOr(value: JsonValue | undefined, fallback: number): number {
  return typeof value === "number" ? value : fallback;
}

export function boxView(record: BoxRecord): BoxView {
  const { options } = record.config;
  const updated = record.state.last_updated;
  return {
    box_id: record.id,
    name: record.name,
    status: record.status,
    created_at: record.config.created_at,
    updated_at: typeof updated === "string" ? updated : record.config.created_at,
    pid: record.pid,
    image: imageOf(options.rootfs),
    cpus: numberOr(options.cpus, DEFAULT_CPUS),
    memory_mib: numberOr(options.memory_mib, DEFAULT_MEMORY_MIB),
    exit_code: typeof record.state.exit_code === "number" ? record.state.exit_code : null,
    error_reason: typeof record.state.error_reason === "string" ? record.state.error_reason : null,
    auto_delete: options.auto_remove === true ? 1 : 0,
  };
}

/** The same view from a listing summary (no blob parsing; see db/box-summaries.ts). */
export function summaryView(box: BoxSummary): BoxView {
  return {
    box_id: box.id,
    name: box.name,
    status: box.status,
    created_at: box.createdAt,
    updated_at: box.updatedAt ?? box.createdAt,
    pid: box.pid,
    image: box.image,
    cpus: box.cpus ?? DEFAULT_CPUS,
    memory_mib: box.memoryMib ?? DEFAULT_MEMORY_MIB,
    exit_code: box.exitCode,
    error_reason: box.errorReason,
    auto_delete: box.autoRemove ? 1 : 0,
  };
}
