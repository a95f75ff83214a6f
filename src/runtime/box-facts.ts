/**
 * A stored box as the runtime reasons about it: its options read through the one codec
 * (model/codec.ts), what the state machine needs (model/box-state.ts), and status changes
 * that the machine's transitions allow.
 */
import { type BoxRecord, type BoxStateJson, getBox, updateBoxState } from "../db/boxes.ts";
import type { HomeDatabase } from "../db/database.ts";
import type { BoxOptions } from "../model/box-options.ts";
import { type BoxAction, type BoxFacts, CLAIMS_VM, checkTransition, type Decision, decide } from "../model/box-state.ts";
import { optionsFromRecord } from "../model/codec.ts";
import { BoxliteError } from "../util/errors.ts";
import type { FileLock } from "../util/flock.ts";
import { lockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";
import { hasUserCommand, type ResolvedOptions, withDefaults } from "./options.ts";
import { isBoxVmm } from "./reconcile.ts";

export interface StoredBox extends BoxFacts {
  /** What the record says, as written. */
  options: BoxOptions;
  /** With the defaults of what the record leaves out (the reference's records may). */
  resolved: ResolvedOptions;
}

export function boxFacts(record: BoxRecord): StoredBox {
  const options = optionsFromRecord(record.config);
  return { id: record.id, name: record.name, status: record.status, userCommand: hasUserCommand(options), options, resolved: withDefaults(options, true) };
}

/** What `action` does to the stored box (model/box-state.ts), or a `conflict` saying why not. */
export function decideFor(record: BoxRecord, action: BoxAction, options: { force?: boolean } = {}): Decision {
  return decide(boxFacts(record), action, options);
}

/** Merges `patch` into the box's state; a status change must be one the state machine allows. */
export function setBoxState(db: HomeDatabase["db"], id: string, patch: Partial<BoxStateJson>): BoxStateJson {
  return updateBoxState(db, id, patch, (current, next) => checkTransition(id, current.status, next.status));
}

/**
 * Takes the box's lock to start it, and its record as it is under the lock. A record that
 * still claims a VM nobody owns (we hold the lock: its owner is gone) starts like a failed
 * box once that VM is really gone; a VM still alive is refused.
 */
export function lockForStart(home: Home, id: string, operation: string): { lock: FileLock; record: BoxRecord } {
  const { db } = home.database;
  if (!getBox(db, id)) throw new BoxliteError("not_found", `no box ${JSON.stringify(id)}; see 'boxlite ls -a'`);
  const lock = lockBox(home.config, id, operation);
  try {
    const record = getBox(db, id);
    if (!record) throw new BoxliteError("conflict", `box ${id} was removed by another process`);
    if (CLAIMS_VM.has(record.status)) {
      if (isBoxVmm(record.pid, boxLayout(home.config, id).dir)) throw new BoxliteError("conflict", `box ${id} is already ${record.status}`);
      const now = new Date().toISOString();
      setBoxState(db, id, { status: "failed", pid: null, error_reason: "its VM stopped while no boxlite process owned it", last_updated: now });
      return { lock, record: getBox(db, id) ?? record };
    }
    if (decideFor(record, "start") !== "act") throw new BoxliteError("conflict", `box ${id} is already ${record.status}`);
    return { lock, record };
  } catch (error) {
    lock.release();
    throw error;
  }
}
