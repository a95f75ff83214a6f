/**
 * `start`, `stop`, `pause` and `unpause` from any process, and the implicit boot of a
 * request that needs a running box, each as the state machine says (model/box-state.ts).
 * Start hands the box to a new supervisor (detached); stop, pause and unpause ask whoever
 * owns the box — a supervisor or a foreground `run` — over its box socket (stop then waits
 * for the record to say it stopped).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type BoxRecord, resolveBox, resolveExistingBox } from "../db/boxes.ts";
import type { GuestChannel } from "../guest-protocol/client.ts";
import { type BoxAction, CLAIMS_VM } from "../model/box-state.ts";
import { BoxliteError, isBoxliteError } from "../util/errors.ts";
import { boxFacts, decideFor } from "./box-facts.ts";
import { boxLayout } from "./box-layout.ts";
import { lockBox } from "./box-lock.ts";
import { discardMemory, isSuspended } from "./box-memory.ts";
import { connectBox } from "./box-socket.ts";
import type { Home } from "./home.ts";
import { reconcileBox, resolveReconciled } from "./reconcile.ts";
import { DEFAULT_STOP_TIMEOUT_MS } from "./session.ts";
import { type SuperviseOptions, spawnSupervisor } from "./supervisor.ts";

/** Past the grace period, the owner still needs a moment to power the VM off and record it. */
const STOP_SLACK_MS = 30_000;
const POLL_MS = 50;

/** Starts a stored box in the background and returns its id once it runs (held: its main command waits for START); a running box is left as it is. */
export async function startDetached(home: Home, idOrName: string, options: SuperviseOptions = {}): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  if (decideFor(box, "start") === "noop") return box.id;
  // A box from the reference has no logs/ yet.
  mkdirSync(join(boxLayout(home.config, box.id).dir, "logs"), { recursive: true });
  const lifeline = home.ownsUndetached && !boxFacts(box).resolved.detach;
  await spawnSupervisor(home, box.id, { ...options, lifeline });
  return box.id;
}

/** Polls box `id`'s record until `done` says so, for at most `timeoutMs`; the last record read (undefined: removed). */
async function waitFor(home: Home, id: string, timeoutMs: number, done: (box: BoxRecord | undefined) => boolean): Promise<BoxRecord | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let box = resolveBox(home.database.db, id);
    // An owner that died meanwhile leaves the record claiming a VM: reconciled, it says the box is down.
    if (box && reconcileBox(home.config, home.database, box.id, box.status, box.pid) !== "unchanged") box = resolveBox(home.database.db, id);
    if (done(box) || Date.now() > deadline) return box;
    await Bun.sleep(POLL_MS);
  }
}

const isDown = (box: BoxRecord | undefined) => !box || !CLAIMS_VM.has(box.status);

/**
 * Stops a running box (SIGTERM to its main command, power-off after `timeoutMs`); a box
 * that is not running is left as it is (a suspended one loses its saved state), and one
 * that is stopping is waited for.
 */
export async function stopBox(home: Home, idOrName: string, timeoutMs = DEFAULT_STOP_TIMEOUT_MS): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  const decision = decideFor(box, "stop");
  if (decision === "act") await requestStop(home, box, timeoutMs);
  if (decision === "noop") forgetSaved(home, box.id);
  if (isDown(await waitFor(home, box.id, timeoutMs + STOP_SLACK_MS, isDown))) return box.id;
  throw new BoxliteError("vmm_failed", `box ${box.id} did not stop within ${Math.round((timeoutMs + STOP_SLACK_MS) / 1000)} s`);
}

/**
 * A stop of a suspended box shuts it down for good: its saved state is dropped, and its
 * next start boots it from its disk (docs/suspend.md). Under the box's lock, so that a
 * resume loading the state meanwhile is not cut short (it is refused as busy instead).
 */
function forgetSaved(home: Home, id: string): void {
  const dir = boxLayout(home.config, id).dir;
  if (!isSuspended(dir)) return;
  using _lock = lockBox(home.config, id, "stop");
  discardMemory(dir);
}

/** Asks the box's owner to stop it (the box socket's STOP). An owner that no longer answers is already ending the box. */
async function requestStop(home: Home, box: BoxRecord, timeoutMs: number): Promise<void> {
  let channel: GuestChannel;
  try {
    channel = await connectBox(home, box);
  } catch (error) {
    // Its socket is gone once the owner is past taking requests: the record says how that ends.
    const now = resolveBox(home.database.db, box.id);
    if (isDown(now) || now?.status === "stopping") return;
    throw error;
  }
  channel.requestStop(timeoutMs);
  channel.close();
}

/**
 * Pauses a running box's VM in place (`pause`), or lets a paused one go on (`unpause`),
 * through its owner; returns its id. The state machine refuses a box in no state for it; the
 * owner what only it knows (already paused, held still for a snapshot).
 */
export async function pauseBox(home: Home, idOrName: string, action: "pause" | "unpause"): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  decideFor(box, action);
  const channel = await connectBox(home, box);
  try {
    await (action === "pause" ? channel.pause() : channel.unpause());
  } finally {
    channel.close();
  }
  return box.id;
}

/**
 * Suspends a running or paused box through its owner (docs/suspend.md): its whole state is
 * saved into its directory and its VM ends; returns its id once the record says it stopped.
 */
export async function suspendBox(home: Home, idOrName: string): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  decideFor(box, "suspend");
  const channel = await connectBox(home, box);
  try {
    await channel.suspendBox();
  } finally {
    channel.close();
  }
  if (isDown(await waitFor(home, box.id, STOP_SLACK_MS, isDown))) return box.id;
  throw new BoxliteError("vmm_failed", `box ${box.id} was saved but its VM did not end within ${STOP_SLACK_MS / 1000} s`);
}

/** Brings a suspended box back where it was (a start from its saved state, as `start` does); a box that is not suspended is refused. */
export async function resumeBox(home: Home, idOrName: string): Promise<string> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  if (CLAIMS_VM.has(box.status)) throw new BoxliteError("conflict", `box ${box.id} is ${box.status}, not suspended`);
  if (!isSuspended(boxLayout(home.config, box.id).dir))
    throw new BoxliteError(
      "conflict",
      `box ${box.id} is ${box.status} but not suspended (it has no saved state); start it with 'boxlite start ${box.name ?? box.id}'`,
    );
  return startDetached(home, box.id);
}

/** How long an implicit boot waits for another process that is booting the same box. */
function bootWaitMs(home: Home): number {
  return home.config.bootTimeoutMs + STOP_SLACK_MS;
}

/**
 * The box `idOrName`, ready for `action`: booted first when the state machine says so — a
 * box on its image's default command, as the reference boots one for exec, cp and its
 * files routes; for an attach, booted held (its main command waits for a start). A
 * suspended box is resumed first, whatever its command: a resume runs nothing again
 * (docs/suspend.md). A box another process is booting at the same time is waited for.
 */
export async function readyBox(home: Home, idOrName: string, action: Extract<BoxAction, "exec" | "copy" | "attach" | "stats" | "tunnel">): Promise<BoxRecord> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  const resumes = action !== "stats" && !CLAIMS_VM.has(box.status) && isSuspended(boxLayout(home.config, box.id).dir);
  if (!resumes && decideFor(box, action) !== "boot") return box;
  try {
    await startDetached(home, box.id, { hold: action === "attach" });
  } catch (error) {
    // Another request is booting it (it holds the box's lock): wait for that boot.
    if (!isBoxliteError(error) || error.code !== "busy") throw error;
    await waitFor(home, box.id, bootWaitMs(home), (now) => !now || now.status !== box.status);
  }
  const now = resolveExistingBox(home.database.db, box.id);
  // What it is now decides: running, or a conflict saying why not (it stopped again, say).
  if (decideFor(now, action) !== "act")
    throw new BoxliteError("conflict", `box ${box.id} is ${now.status} after it was booted for ${action}; see 'boxlite logs ${box.id}'`);
  return now;
}
