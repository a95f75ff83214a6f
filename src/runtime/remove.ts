/**
 * Removing a box: under its lock, its rows, its directory and its lock file go. A box
 * that still has a VM is refused unless forced (the state machine's rule). Forcing stops
 * the box through its owner at once; an owner that does not let go in time has its VM
 * killed — only when the process is really this box's VMM — and a forced remove then
 * always goes through. Whatever of its group is left (a helper of a dead VM) is killed, by
 * fingerprint.
 */
import { join } from "node:path";
import { resolveBox, resolveExistingBox } from "../db/boxes.ts";
import { BoxliteError, isBoxliteError } from "../util/errors.ts";
import { busyError, FileLock } from "../util/flock.ts";
import { decideFor } from "./box-facts.ts";
import { removeBoxLock, tryLockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import { stopBox } from "./lifecycle.ts";
import { isBoxVmm } from "./reconcile.ts";
import { killLeftovers, waitUntilGone } from "./vm-group.ts";

/** How long a forced rm waits for a box's owner to let go once asked to stop, and again once its VM is killed. */
const OWNER_RELEASE_MS = 10_000;
/** How long a killed VM group may take to be gone. */
const KILL_WAIT_MS = 10_000;

/**
 * Kills the box's VM group and waits for it to go: the process group of its watchdog
 * (the watchdog, its helpers and the VMM; host/vmm-watch.c) while the watchdog is
 * verified as the box's, and every recorded member still running (one that left the
 * group, or outlived a dead watchdog).
 */
async function killVmGroup(pid: number | null, boxDir: string): Promise<void> {
  if (pid !== null && isBoxVmm(pid, boxDir)) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // Gone since the check.
    }
  }
  const leftovers = killLeftovers(boxDir);
  const deadline = Date.now() + KILL_WAIT_MS;
  while (pid !== null && isBoxVmm(pid, boxDir) && Date.now() < deadline) await Bun.sleep(10);
  await waitUntilGone(leftovers, Math.max(0, deadline - Date.now()));
}

/**
 * The box's lock for its removal. Another process holding it (a supervisor, a foreground
 * run, a boot for an exec) is asked to stop the box when forced; otherwise the state
 * machine says why not.
 */
async function lockForRemoval(home: Home, id: string, force: boolean): Promise<FileLock> {
  const attempt = tryLockBox(home.config, id, "rm");
  if (attempt instanceof FileLock) return attempt;
  const box = resolveBox(home.database.db, id);
  if (box) decideFor(box, "remove", { force });
  // Not forced: whoever holds it (a start, another rm) is left to finish.
  if (!force) throw busyError(`box ${id}`, attempt.busy);
  const lockPath = join(home.config.home, "locks", id);
  await stopBox(home, id, 0).catch((error: unknown) => {
    // The owner may be past answering (its box is stopping): the lock tells when it is done.
    if (!isBoxliteError(error)) throw error;
  });
  try {
    return await FileLock.acquire(lockPath, "rm", OWNER_RELEASE_MS);
  } catch (error) {
    if (!isBoxliteError(error) || error.code !== "busy") throw error;
  }
  // The owner did not let go: end its VM under it; the owner then records the end and releases the box.
  const now = resolveBox(home.database.db, id);
  const layout = boxLayout(home.config, id);
  if (now) await killVmGroup(now.pid, layout.dir);
  return FileLock.acquire(lockPath, "rm", OWNER_RELEASE_MS);
}

export async function removeBoxByName(home: Home, idOrName: string, force: boolean): Promise<string> {
  const { config, database } = home;
  const found = resolveExistingBox(database.db, idOrName);
  using _lock = await lockForRemoval(home, found.id, force);
  // Another process may have removed or changed it before we got the lock.
  const box = resolveBox(database.db, found.id);
  if (!box) {
    // Our lock file was made anew after the remover deleted its own: do not leave it behind.
    removeBoxLock(config, found.id);
    throw new BoxliteError("not_found", `box ${found.id} was removed by another process`);
  }
  const layout = boxLayout(config, box.id);
  // We hold the lock: a VM still alive has no owner any more (its owner died an instant ago).
  if (isBoxVmm(box.pid, layout.dir)) decideFor(box, "remove", { force });
  // Nothing of the box may run on once its directory is gone, leftovers of a dead VM included.
  await killVmGroup(box.pid, layout.dir);
  discardBox(config, database, box.id);
  return box.id;
}
