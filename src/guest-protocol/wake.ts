/**
 * WAKE (docs/guest-protocol.md, "Waking a restored guest"): what a guest restored from saved
 * memory — a template or a suspended box — cannot know by itself.
 */
import { randomBytes } from "node:crypto";
import { encodeJson } from "./messages.ts";

/** A disk of the box in place of a template's stand-in: the guest's name for it (vdb, …) and its size. */
export interface WakeDisk {
  name: string;
  bytes: number;
}

export interface WakeRequest {
  /** The box's disks where a template had stand-ins: the guest waits for each size, then drops what it cached. Only before CONFIG. */
  disks: WakeDisk[];
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
    disks: request.disks,
  });
}
