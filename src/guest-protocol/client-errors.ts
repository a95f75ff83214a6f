/** What the guest's and the owner's refusals mean as boxlite errors (GuestChannel raises them). */
import { BoxliteError, ERROR_TABLE, type ErrorCode } from "../util/errors.ts";
import type { ErrorMessage } from "./messages.ts";

/** How a failed FREEZE, THAW or WAKE is explained. */
export const GUEST_COULD_NOT = {
  FREEZE: "the guest could not freeze the box's filesystem",
  THAW: "the guest could not thaw the box's filesystem",
  WAKE: "the guest could not wake from saved memory",
} as const;

/** Errors that are the guest refusing the box's CONFIG: the box's settings, not the guest, are at fault. */
const configRefusals = new WeakSet<BoxliteError>();

/** Whether `error` is the guest refusing the box's configuration (a restored guest that got that far is sound). */
export function isConfigRefusal(error: unknown): boolean {
  return error instanceof BoxliteError && configRefusals.has(error);
}

/** What an ERROR on stream 0 means: a configuration the guest could not take, or a channel it gave up on. */
export function channelError(error: ErrorMessage): BoxliteError {
  let refusal: BoxliteError | undefined;
  if (error.code === "config_failed") refusal = new BoxliteError("vmm_failed", `the guest could not apply the box's configuration: ${error.message}`);
  if (error.code === "config_conflict")
    refusal = new BoxliteError("protocol", `the guest was configured differently on an earlier connection: ${error.message}`);
  if (refusal) {
    configRefusals.add(refusal);
    return refusal;
  }
  return new BoxliteError("protocol", `the guest closed the channel: ${error.code}: ${error.message}`);
}

/** The owner's refusal of a QUIESCE, RESUME, PAUSE or UNPAUSE: its ERROR code is one of boxlite's error codes. */
export function ownerRefusal(error: ErrorMessage): BoxliteError {
  const code = Object.hasOwn(ERROR_TABLE, error.code) ? (error.code as ErrorCode) : "protocol";
  return new BoxliteError(code, error.message);
}
