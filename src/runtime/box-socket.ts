/** Reaching a running box from any process: its record, then its box socket (guest-protocol/relay.ts). */
import { type BoxRecord, resolveBox } from "../db/boxes.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import { BoxliteError } from "../util/errors.ts";
import { decideFor } from "./box-facts.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";

/** How long the box's owner (or its agent, on the exec port) may take to answer HELLO. */
export const CONNECT_TIMEOUT_MS = 10_000;
/** Idle connections kept per box for the next exec. */
const IDLE_PER_BOX = 2;

/**
 * Connections to boxes' owners that served an exec and wait for the next, per home and box:
 * an exec on one skips dialing the owner, whose accepting and greeting a new client were a
 * good part of what an exec cost. An idle connection does not keep the process alive, and
 * one its owner closed (the box stopped) is never handed out.
 */
const idleChannels = new WeakMap<Home, Map<string, GuestChannel[]>>();

/** Whether an idle connection to box `id`'s owner is open: then the owner serves, and the box's VM runs. */
export function hasIdleChannel(home: Home, id: string): boolean {
  return (
    idleChannels
      .get(home)
      ?.get(id)
      ?.some((channel) => !channel.isClosed) ?? false
  );
}

/** An idle connection to box `id`'s owner, now the caller's (it keeps the process alive again), if one is open. */
export function takeIdleChannel(home: Home, id: string): GuestChannel | undefined {
  const idle = idleChannels.get(home)?.get(id);
  for (let channel = idle?.pop(); channel; channel = idle?.pop()) {
    if (channel.isClosed) continue;
    channel.keepProcessAlive(true);
    return channel;
  }
  return undefined;
}

/** Hands back a connection that served an exec and has nothing running over it: kept for the next, or closed. */
export function keepIdleChannel(home: Home, id: string, channel: GuestChannel): void {
  if (channel.isClosed) return;
  const boxes = idleChannels.get(home) ?? new Map<string, GuestChannel[]>();
  idleChannels.set(home, boxes);
  const idle = (boxes.get(id) ?? []).filter((kept) => !kept.isClosed);
  boxes.set(id, idle);
  if (idle.length >= IDLE_PER_BOX) {
    channel.close();
    return;
  }
  channel.keepProcessAlive(false);
  idle.push(channel);
}

/**
 * Why the box's owner gave no answer. The usual cause is an owner ending the box (its socket
 * goes first): then the box's state is the error, as the state machine words it, rather than
 * a failed connection; otherwise `silent` (given the box's status) says how the owner failed.
 */
export function noAnswer(home: Home, id: string, silent: (status: string) => string, cause?: unknown): BoxliteError {
  const now = resolveBox(home.database.db, id);
  if (!now) return new BoxliteError("not_found", `box ${id} was removed`, { cause });
  if (now.status === "running" || now.status === "paused") return new BoxliteError("conflict", silent(now.status), { cause });
  try {
    decideFor(now, "exec");
  } catch (refusal) {
    if (refusal instanceof BoxliteError) return refusal;
    throw refusal;
  }
  return new BoxliteError("conflict", `box ${id} is ${now.status}: it stopped during the request; try again`, { cause });
}

/**
 * A channel to the box through its owner, usable at once: what is sent on it follows the
 * HELLO without waiting for the answer (GuestChannel.dial). An owner that refuses the
 * connection, or closes it or stays silent (CONNECT_TIMEOUT_MS) before answering HELLO,
 * fails the request with noAnswer's reason.
 */
export async function connectBox(home: Home, box: Pick<BoxRecord, "id">): Promise<GuestChannel> {
  const { id } = box;
  const path = boxLayout(home.config, id).boxSocket;
  const unanswered = () => noAnswer(home, id, () => `box ${id}'s owner accepts but does not answer on ${path}; see 'boxlite ls -a'`);
  try {
    return await GuestChannel.dial(path, { timeoutMs: CONNECT_TIMEOUT_MS, unanswered });
  } catch (cause) {
    throw noAnswer(home, id, (status) => `box ${id} is recorded as ${status} but does not answer on ${path}; see 'boxlite ls -a'`, cause);
  }
}
