/**
 * The state checks a request makes before acting on a box, with their messages: one place
 * for the local runtime and for the REST client (src/api/client.ts), which refuses what
 * the local runtime refuses, in the same words.
 */
import { BoxliteError } from "../util/errors.ts";

/** What the checks need of a box, in either shape (a record or the REST Box). */
export interface BoxIdentity {
  id: string;
  name: string | null;
  status: string;
}

/** `what` needs the box running; a start would run its main command again, so it is not done implicitly. */
export function requireRunning(box: BoxIdentity, what: string): void {
  if (box.status === "running") return;
  throw new BoxliteError(
    "conflict",
    `box ${box.id} is ${box.status}, not running: ${what} needs a running box; start it with 'boxlite start ${box.name ?? box.id}' (that runs its main command again)`,
  );
}

/** A start of a box that runs (or is stopping) is refused. */
export function requireNotRunning(box: BoxIdentity): void {
  if (box.status === "running" || box.status === "stopping") throw new BoxliteError("conflict", `box ${box.id} is already ${box.status}`);
}
