/**
 * Bringing a record in line with reality: a box recorded as running whose VM is gone and
 * that no boxlite process holds (its creator died, e.g. by SIGKILL; the watchdog took
 * the VM and its helpers with it) is failed with the reason, or removed when it was an
 * auto-remove box; any process of its group still running is killed first.
 * Done whenever boxes are read, so `ls` never shows a VM that does not exist.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import type { Config } from "../config/config.ts";
import type { BoxStatus } from "../db/box-status.ts";
import { CLAIMS_VM } from "../model/box-state.ts";
import type { BoxView } from "../db/box-summaries.ts";
import { type BoxRecord, getBox, resolveBox, resolveExistingBox, updateBoxState } from "../db/boxes.ts";
import type { HomeDatabase } from "../db/database.ts";
import { optionsFromRecord } from "../model/codec.ts";
import { BoxliteError } from "../util/errors.ts";
import { FileLock } from "../util/flock.ts";
import { tryLockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { discardBox } from "./discard.ts";
import { removeJailLeftovers } from "../vmm/jail/jail.ts";
import { killLeftovers } from "./vm-group.ts";
import { removeVmmPid, startTimeMatches } from "./vmm-pid.ts";

export const ORPHANED_REASON = "the VM stopped while no boxlite process was attached to it (its boxlite process died)";

/**
 * Whether `pid` is alive and is this box's VMM, not a reused pid: its command line names
 * the box — QEMU's its directory, krun's `__vm <box-id>` — and its start time is the one
 * recorded in `shim.pid`. `pid` is the watchdog, which lives as long as the group: it
 * stops the helpers and the VMM when either ends.
 */
export function isBoxVmm(pid: number | null, boxDir: string): boolean {
  if (pid === null) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const namesBox = cmdline.includes(`${boxDir}/`) || cmdline.includes(`\0__vm\0${basename(boxDir)}\0`);
    return namesBox && startTimeMatches(boxDir, pid);
  } catch {
    return false;
  }
}

export type Reconciled = "unchanged" | "failed" | "removed";

export function reconcileBox(config: Config, database: HomeDatabase, id: string, status: BoxStatus, pid: number | null): Reconciled {
  if (!CLAIMS_VM.has(status)) return "unchanged";
  const layout = boxLayout(config, id);
  if (isBoxVmm(pid, layout.dir)) return "unchanged";
  // A holder is working on the box (a run still booting, an rm): it owns the record.
  const lock = tryLockBox(config, id, "recover");
  if (!(lock instanceof FileLock)) return "unchanged";
  try {
    const box = getBox(database.db, id);
    if (!box || !CLAIMS_VM.has(box.status) || isBoxVmm(box.pid, layout.dir)) return "unchanged";
    // The VM is gone; a helper or VMM that outlived its watchdog must not run on unowned.
    killLeftovers(layout.dir);
    removeJailLeftovers(config, id);
    removeVmmPid(layout.dir);
    if (optionsFromRecord(box.config).autoRemove === true) {
      discardBox(config, database, id);
      return "removed";
    }
    updateBoxState(database.db, id, { status: "failed", pid: null, error_reason: ORPHANED_REASON, last_updated: new Date().toISOString() });
    return "failed";
  } finally {
    lock.release();
  }
}

/** The box `idOrName` names, its record corrected first when it claims a VM nobody owns any more. */
export function resolveReconciled(config: Config, database: HomeDatabase, idOrName: string): BoxRecord {
  const box = resolveExistingBox(database.db, idOrName);
  if (reconcileBox(config, database, box.id, box.status, box.pid) === "unchanged") return box;
  const fresh = resolveBox(database.db, box.id);
  if (!fresh) throw new BoxliteError("not_found", `box ${box.id} was removed (it was an auto-remove box whose owner died)`);
  return fresh;
}

/**
 * reconcileBox for each listed box; true when any record changed. Boxes that claim no VM
 * are skipped here with a Set lookup, not a call each: `ls` lists thousands of boxes.
 */
export function reconcileListed(config: Config, database: HomeDatabase, boxes: readonly BoxView[]): boolean {
  let changed = false;
  for (let i = 0; i < boxes.length; i++) {
    const box = boxes[i] as BoxView;
    if (CLAIMS_VM.has(box.status) && reconcileBox(config, database, box.box_id, box.status, box.pid) !== "unchanged") changed = true;
  }
  return changed;
}
