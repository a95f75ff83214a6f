/**
 * `start` and `stop` from any process. Start hands the box to a new supervisor (detached);
 * stop asks whoever owns the box — a supervisor or a foreground `run` — over its box
 * socket, and waits for the record to say it stopped.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { resolveBox } from "../db/boxes.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import { BoxliteError } from "../util/errors.ts";
import { requireNotRunning } from "./box-checks.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";
import { resolveReconciled } from "./reconcile.ts";
import { DEFAULT_STOP_TIMEOUT_MS } from "./session.ts";
import { spawnSupervisor, type SuperviseOptions } from "./supervisor.ts";

/** Past the grace period, the owner still needs a moment to power the VM off and record it. */
const STOP_SLACK_MS = 30_000;
const POLL_MS = 50;

/** Starts a stored box in the background; returns its id once it runs (held: its main command waits for START). */
export async function startDetached(home: Home, idOrName: string, options: SuperviseOptions = {}): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  requireNotRunning(box);
  // A box from the reference has no logs/ yet.
  mkdirSync(join(boxLayout(home.config, box.id).dir, "logs"), { recursive: true });
  await spawnSupervisor(home, box.id, options);
  return box.id;
}

/** Stops a running box (SIGTERM to its main command, power-off after `timeoutMs`); a stopped box is left as it is. */
export async function stopBox(home: Home, idOrName: string, timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  if (box.status !== "running" && box.status !== "stopping") return box.id;
  const layout = boxLayout(home.config, box.id);
  try {
    const { channel } = await GuestChannel.connect(layout.boxSocket, { timeoutMs: 10_000, vmExited: new Promise(() => {}) });
    // On the box socket, SHUTDOWN asks the owner to stop the box (docs/guest-protocol.md).
    channel.shutdown(timeoutMs);
    channel.close();
  } catch (cause) {
    throw new BoxliteError("conflict", `box ${box.id} is recorded as ${box.status} but does not answer on ${layout.boxSocket}`, { cause });
  }
  const deadline = Date.now() + timeoutMs + STOP_SLACK_MS;
  while (Date.now() < deadline) {
    const now = resolveBox(home.database.db, box.id);
    if (!now || (now.status !== "running" && now.status !== "stopping")) return box.id;
    await Bun.sleep(POLL_MS);
  }
  throw new BoxliteError("vmm_failed", `box ${box.id} did not stop within ${Math.round((timeoutMs + STOP_SLACK_MS) / 1000)} s`);
}
