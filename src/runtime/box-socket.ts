/** Reaching a running box from any process: its record, then its box socket (guest-protocol/relay.ts). */
import { type BoxRecord, resolveExistingBox } from "../db/boxes.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import { BoxliteError } from "../util/errors.ts";
import { requireRunning } from "./box-checks.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";

/** How long the box's owner may take to answer on the box socket. */
const CONNECT_TIMEOUT_MS = 10_000;

/** The box `idOrName` names, which must be running (`what` names the request in the error). */
export function runningBox(home: Home, idOrName: string, what: string): BoxRecord {
  const box = resolveExistingBox(home.database.db, idOrName);
  requireRunning(box, what);
  return box;
}

/** A channel to the box through its owner. */
export async function connectBox(home: Home, box: BoxRecord): Promise<GuestChannel> {
  const path = boxLayout(home.config, box.id).boxSocket;
  try {
    return (await GuestChannel.connect(path, { timeoutMs: CONNECT_TIMEOUT_MS, vmExited: new Promise(() => {}) })).channel;
  } catch (cause) {
    throw new BoxliteError("conflict", `box ${box.id} is recorded as running but does not answer on ${path}; see 'boxlite ls -a'`, { cause });
  }
}
