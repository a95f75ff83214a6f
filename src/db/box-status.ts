/** Box statuses as stored in box_state (column and JSON), with the reference's legacy values. */

export type BoxStatus = "unknown" | "configured" | "running" | "stopping" | "stopped" | "paused" | "failed";

export const BOX_STATUSES: readonly BoxStatus[] = ["unknown", "configured", "running", "stopping", "stopped", "paused", "failed"];

/**
 * Values older versions wrote: `starting` was the state before the first boot; the
 * transient disk-operation states became a quiesce under `paused`, and a box found in
 * one of them after a crash is stopped.
 */
const LEGACY_STATUSES: Readonly<Record<string, BoxStatus>> = {
  starting: "configured",
  snapshotting: "stopped",
  restoring: "stopped",
  exporting: "stopped",
  cloning: "stopped",
};

/** Every stored string that means a status, legacy ones included (a Map: no prototype keys). */
const STATUS_BY_NAME: ReadonlyMap<string, BoxStatus> = new Map([
  ...BOX_STATUSES.map((status) => [status, status] as const),
  ...Object.entries(LEGACY_STATUSES),
]);

/** The current statuses, for a check per row where a call would cost (see CLAIMS_VM). */
export const KNOWN_STATUSES: ReadonlySet<string> = new Set(BOX_STATUSES);

/**
 * SQL for parseBoxStatus's reading of the stored string `expr`: legacy names become the
 * current ones, and anything else passes through for the caller to check.
 */
export function statusSql(expr: string): string {
  const legacy = Object.entries(LEGACY_STATUSES).map(([old, current]) => `WHEN '${old}' THEN '${current}'`);
  return `CASE ${expr} ${legacy.join(" ")} ELSE ${expr} END`;
}

/** The status a stored string means, or undefined when it means nothing known. */
export function parseBoxStatus(value: string): BoxStatus | undefined {
  return STATUS_BY_NAME.get(value);
}
