/**
 * What the guest's and the owner's answers and refusals mean (GuestChannel reads and raises
 * them): the guest's answers to FREEZE, THAW, WAKE and SUSPEND, its ERROR on stream 0 (a
 * configuration it refused, or a channel it gave up on), and the owner's refusals.
 */
import { BoxliteError, ERROR_TABLE, type ErrorCode } from "../util/errors.ts";
import { FrameType } from "./frames.ts";
import type { ErrorMessage } from "./messages.ts";

/** How a failed FREEZE, THAW, WAKE or SUSPEND is explained. */
export const GUEST_COULD_NOT = {
  FREEZE: "the guest could not freeze the box's filesystem",
  THAW: "the guest could not thaw the box's filesystem",
  WAKE: "the guest could not wake from saved memory",
  SUSPEND: "the guest could not prepare to be suspended",
} as const;

/** SUSPEND (docs/guest-protocol.md, "Suspending a box"): the streams the resumed guest keeps. */
export interface SuspendRequest {
  /** Served again on the next connection (the box's main command, which the resumed owner adopts). */
  keep: number[];
  /** Run on unheard: their output is read and dropped by the guest (detached commands). */
  orphan: number[];
}

/** The guest's answers to the host's channel requests, by frame type. */
export const GUEST_ANSWERS: ReadonlyMap<number, keyof typeof GUEST_COULD_NOT> = new Map([
  [FrameType.FREEZE, "FREEZE"],
  [FrameType.THAW, "THAW"],
  [FrameType.WAKE, "WAKE"],
  [FrameType.SUSPEND, "SUSPEND"],
]);

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

/** The frames that answer a request to the owner (GuestChannel.ask), on the request's stream. */
export const OWNER_ANSWERS: ReadonlySet<number> = new Set([
  FrameType.QUIESCE,
  FrameType.RESUME,
  FrameType.PAUSE,
  FrameType.UNPAUSE,
  FrameType.SUSPEND_BOX,
  FrameType.ERROR,
]);

/** The owner's refusal of a QUIESCE, RESUME, PAUSE, UNPAUSE or SUSPEND_BOX: its ERROR code is one of boxlite's error codes. */
export function ownerRefusal(error: ErrorMessage): BoxliteError {
  const code = Object.hasOwn(ERROR_TABLE, error.code) ? (error.code as ErrorCode) : "protocol";
  return new BoxliteError(code, error.message);
}
