/**
 * What the CLI and the API show of a box, read from its record in either boxlite's or
 * the reference's JSON (the REST contract's `Box` shape, plus the exit code).
 */
import type { BoxView, ListingDefaults } from "../db/box-summaries.ts";
import type { BoxRecord } from "../db/boxes.ts";
// Options a record leaves out take the defaults boxes are created with (as the reference's).
import { DEFAULT_CPUS, DEFAULT_MEMORY_MIB } from "../model/box-options.ts";
import { boxFacts } from "./box-facts.ts";

export type { BoxView } from "../db/box-summaries.ts";

/** The creation defaults, for records (and listings) that leave an option out. */
export const VIEW_DEFAULTS: ListingDefaults = { cpus: DEFAULT_CPUS, memoryMib: DEFAULT_MEMORY_MIB };

/**
 * `rootfs` is `{"Image": ref}` or `{"RootfsPath": path}` (a serde enum), or a plain string.
 * The listing applies the same rule in SQL (configField.image in db/listing-indexes.ts).
 */
export function imageOf(rootfs: unknown): string {
  if (typeof rootfs === "string") return rootfs;
  if (rootfs === null || typeof rootfs !== "object") return "";
  const variant = rootfs as Record<string, unknown>;
  if (typeof variant.Image === "string") return variant.Image;
  return typeof variant.RootfsPath === "string" ? variant.RootfsPath : "";
}

export function boxView(record: BoxRecord): BoxView {
  const { options, resolved } = boxFacts(record);
  const updated = record.state.last_updated;
  return {
    box_id: record.id,
    name: record.name,
    status: record.status,
    created_at: record.config.created_at,
    updated_at: typeof updated === "string" ? updated : record.config.created_at,
    pid: record.pid,
    image: imageOf(record.config.options.rootfs),
    cpus: resolved.cpus,
    memory_mib: resolved.memoryMib,
    exit_code: typeof record.state.exit_code === "number" ? record.state.exit_code : null,
    error_reason: typeof record.state.error_reason === "string" ? record.state.error_reason : null,
    auto_delete: options.autoRemove === true ? 1 : 0,
  };
}
