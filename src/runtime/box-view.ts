/**
 * What the CLI and the API show of a box, read from its record in either boxlite's or
 * the reference's JSON (the REST contract's `Box` shape, plus the exit code).
 */
import { type BoxView, type ListingDefaults, networkView, volumesView } from "../db/box-summaries.ts";
import type { BoxRecord } from "../db/boxes.ts";
// Options a record leaves out take the defaults boxes are created with (as the reference's).
import { DEFAULT_CPUS, DEFAULT_MEMORY_MIB } from "../model/box-options.ts";
import { configFields, stateFields } from "../db/listing-indexes.ts";
import type { Config } from "../config/config.ts";
import { boxLayout } from "./box-layout.ts";
import { isSuspended } from "./box-memory.ts";

export type { BoxView } from "../db/box-summaries.ts";

/** The creation defaults, for records (and listings) that leave an option out. */
export const VIEW_DEFAULTS: ListingDefaults = { cpus: DEFAULT_CPUS, memoryMib: DEFAULT_MEMORY_MIB };

/** `view`, saying whether the box is suspended (a stopped box with a saved state in its directory; one stat, only for boxes without a VM). */
export function withSuspended(config: Config, view: BoxView): BoxView {
  if (view.status !== "stopped" && view.status !== "failed") return view;
  return isSuspended(boxLayout(config, view.box_id).dir) ? { ...view, suspended: true } : view;
}

/**
 * A box as the listing shows it, from its full record: every field read by the listing's
 * own field table (db/listing-indexes.ts), so `ls` and `inspect` cannot disagree.
 */
export function boxView(record: BoxRecord): BoxView {
  const { config, state } = record;
  return {
    box_id: record.id,
    name: record.name,
    status: record.status,
    created_at: config.created_at,
    updated_at: stateFields.lastUpdated.read(state) ?? config.created_at,
    pid: record.pid,
    image: configFields.image.read(config) ?? "",
    cpus: configFields.cpus.read(config) ?? DEFAULT_CPUS,
    memory_mib: configFields.memoryMib.read(config) ?? DEFAULT_MEMORY_MIB,
    exit_code: stateFields.exitCode.read(state),
    error_reason: stateFields.errorReason.read(state),
    auto_delete: configFields.removesOnStop.read(config) ?? 0,
    network: networkView(configFields.networkMode.read(config), configFields.allowNet.read(config), stateFields.publishedPorts.read(state), record.status),
    volumes: volumesView(configFields.volumes.read(config)),
  };
}
