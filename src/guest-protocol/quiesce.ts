/**
 * Payloads of the frames that hold a box still while its disk is copied
 * (docs/guest-protocol.md, "Quiescing"): FREEZE and THAW, which the owner sends the guest,
 * and QUIESCE and RESUME, which a client sends the owner on the box socket.
 */
import { FrameError } from "./frames.ts";
import { parseObject } from "./messages.ts";

/** What a client asks QUIESCE for: the box paused, and, when `fork` is given, its disk forked to `fork.dest`. */
export interface QuiesceRequest {
  /** The live disk becomes the immutable file `dest` (absolute, new); a new empty overlay on it, first named `next` (beside the disk), takes its place. */
  fork?: { dest: string; next: string };
}

/** An absolute path without NUL, or a malformed QUIESCE. */
function absolutePath(value: unknown, field: string): string {
  if (typeof value !== "string" || !value.startsWith("/") || value.includes("\0"))
    throw new FrameError("bad_payload", `QUIESCE ${field} must be an absolute path without NUL`);
  return value;
}

/** The guest's FREEZE, THAW, WAKE or SUSPEND answer: undefined when done, else why not (`freeze_failed`, `wake_failed`, `suspend_failed`). */
export function parseDoneAnswer(payload: Uint8Array, what: "FREEZE" | "THAW" | "WAKE" | "SUSPEND"): string | undefined {
  const answer = parseObject(payload, what, {});
  if (answer.code === undefined) return undefined;
  const failed = what === "WAKE" ? "wake_failed" : what === "SUSPEND" ? "suspend_failed" : "freeze_failed";
  if (answer.code !== failed || typeof answer.message !== "string") throw new FrameError("bad_payload", `${what} answer is {} or {code:"${failed}", message}`);
  return answer.message;
}

export function parseQuiesceRequest(payload: Uint8Array): QuiesceRequest {
  const request = parseObject(payload, "QUIESCE", {});
  if (request.fork === undefined) return {};
  const fork = typeof request.fork === "object" && request.fork !== null ? (request.fork as Record<string, unknown>) : {};
  return { fork: { dest: absolutePath(fork.dest, "fork.dest"), next: absolutePath(fork.next, "fork.next") } };
}

/** The owner's QUIESCE answer: the box is paused (and forked); how long pausing took. */
export interface QuiescedMessage {
  pause_ms: number;
}

export function parseQuiesced(payload: Uint8Array): QuiescedMessage {
  return { pause_ms: parseObject(payload, "QUIESCE", { pause_ms: "number" }).pause_ms as number };
}
