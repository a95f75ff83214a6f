/**
 * WAKE (docs/guest-protocol.md, "Waking a restored guest"): what a guest restored from saved
 * memory — a template or a suspended box — cannot know by itself.
 */
import { randomBytes } from "node:crypto";
import { encodeJson } from "./messages.ts";

export interface WakeRequest {
  /** Probe the box's disks again (a template restored for a box: its disks are not the template's). Only before CONFIG. */
  reprobe: boolean;
}

/** Bytes of fresh randomness each WAKE carries for the guest's RNG. */
export const WAKE_ENTROPY_BYTES = 32;

/** The WAKE payload: the host's wall clock now (to the millisecond), and new entropy from the host's CSPRNG. */
export function encodeWake(request: WakeRequest): Uint8Array {
  const nowMs = Date.now();
  return encodeJson({
    time_s: Math.floor(nowMs / 1000),
    time_ns: (nowMs % 1000) * 1_000_000,
    entropy: randomBytes(WAKE_ENTROPY_BYTES).toString("hex"),
    reprobe: request.reprobe,
  });
}
