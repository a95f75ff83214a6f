/** Reaching a running box from any process: its record, then its box socket (guest-protocol/relay.ts). */
import { type BoxRecord, resolveBox } from "../db/boxes.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import { BoxliteError } from "../util/errors.ts";
import { decideFor } from "./box-facts.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";

/** How long the box's owner may take to answer on the box socket. */
const CONNECT_TIMEOUT_MS = 10_000;

/**
 * A channel to the box through its owner, usable at once: what is sent on it follows the
 * HELLO without waiting for the answer (GuestChannel.dial). An owner that does not answer
 * is usually one ending the box (its socket goes first): then the box's state is the error,
 * as the state machine words it, rather than a failed connection; one that accepts but
 * stays silent fails what was sent once CONNECT_TIMEOUT_MS passed.
 */
export async function connectBox(home: Home, box: BoxRecord): Promise<GuestChannel> {
  const path = boxLayout(home.config, box.id).boxSocket;
  const silent = () => new BoxliteError("conflict", `box ${box.id}'s owner accepts but does not answer on ${path}; see 'boxlite ls -a'`);
  try {
    return await GuestChannel.dial(path, { timeoutMs: CONNECT_TIMEOUT_MS, unanswered: silent });
  } catch (cause) {
    const now = resolveBox(home.database.db, box.id);
    if (!now) throw new BoxliteError("not_found", `box ${box.id} was removed`, { cause });
    if (now.status !== "running" && now.status !== "paused") {
      decideFor(now, "exec");
      throw new BoxliteError("conflict", `box ${box.id} is ${now.status}: it stopped during the request; try again`, { cause });
    }
    throw new BoxliteError("conflict", `box ${box.id} is recorded as ${now.status} but does not answer on ${path}; see 'boxlite ls -a'`, { cause });
  }
}
