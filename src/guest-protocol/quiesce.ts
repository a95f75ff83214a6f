/**
 * Payloads of the frames that hold a box still while its disk is copied
 * (docs/guest-protocol.md, "Quiescing"): FREEZE and THAW, which the owner sends the guest,
 * and QUIESCE and RESUME, which a client sends the owner on the box socket.
 */
import { FrameError } from "./frames.ts";

/** What a client asks QUIESCE for: the box paused, and, when `fork` is given, its disk forked to `fork.dest`. */
export interface QuiesceRequest {
  /** The live disk becomes the immutable file `dest` (absolute, new); a new empty overlay on it takes its place. */
  fork?: { dest: string; next?: string };
}

const decoder = new TextDecoder();

function parseJson(payload: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw new FrameError("bad_payload", `${what} payload is not valid UTF-8 JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new FrameError("bad_payload", `${what} payload is not a JSON object`);
  return value as Record<string, unknown>;
}

/** The guest's FREEZE or THAW answer: undefined when done, else why not (`freeze_failed`). */
export function parseFreezeAnswer(payload: Uint8Array, what: "FREEZE" | "THAW"): string | undefined {
  const answer = parseJson(payload, what);
  if (answer.code === undefined) return undefined;
  if (answer.code !== "freeze_failed" || typeof answer.message !== "string")
    throw new FrameError("bad_payload", `${what} answer is {} or {code:"freeze_failed", message}`);
  return answer.message;
}

export function parseQuiesceRequest(payload: Uint8Array): QuiesceRequest {
  const request = parseJson(payload, "QUIESCE");
  if (request.fork === undefined) return {};
  const fork = request.fork as Record<string, unknown> | null;
  const dest = typeof fork === "object" && fork !== null ? fork.dest : undefined;
  if (typeof dest !== "string" || !dest.startsWith("/") || dest.includes("\0"))
    throw new FrameError("bad_payload", "QUIESCE fork.dest must be an absolute path without NUL");
  const next = (fork as Record<string, unknown>).next;
  if (next === undefined) return { fork: { dest } };
  if (typeof next !== "string" || !next.startsWith("/") || next.includes("\0"))
    throw new FrameError("bad_payload", "QUIESCE fork.next must be an absolute path without NUL");
  return { fork: { dest, next } };
}

/** The owner's QUIESCE answer: the box is paused (and forked); how long pausing took. */
export interface QuiescedMessage {
  pause_ms: number;
}

export function parseQuiesced(payload: Uint8Array): QuiescedMessage {
  const answer = parseJson(payload, "QUIESCE");
  if (typeof answer.pause_ms !== "number") throw new FrameError("bad_payload", "QUIESCE answer needs pause_ms as a number");
  return { pause_ms: answer.pause_ms };
}
