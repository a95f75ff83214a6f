/**
 * Removing a box: under its lock, its rows, its directory and its lock file go. A box
 * that still has a VM is refused unless forced; forcing kills a VM only when no boxlite
 * process holds the box (we hold its lock) and the process is really this box's VMM.
 * Whatever of its group is left (a helper of a dead VM) is killed, by fingerprint.
 */
import { join } from "node:path";
import { isActiveStatus } from "../db/box-status.ts";
import { resolveBox, resolveExistingBox } from "../db/boxes.ts";
import { BoxliteError } from "../util/errors.ts";
import { busyError, FileLock } from "../util/flock.ts";
import { removeBoxLock, tryLockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import { stopBox } from "./lifecycle.ts";
import { isBoxVmm } from "./reconcile.ts";
import { killLeftovers, waitUntilGone } from "./vm-group.ts";

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

/** How long a forced rm waits for a box's owner to let go once the box stopped. */
const OWNER_RELEASE_MS = 10_000;

/** rm -f of a box another process owns (a supervisor, a foreground run): it is stopped at once, then removed. */
async function lockForRemoval(home: Home, id: string, force: boolean): Promise<FileLock> {
  const attempt = tryLockBox(home.config, id, "rm");
  if (attempt instanceof FileLock) return attempt;
  const box = resolveBox(home.database.db, id);
  const running = box !== undefined && (box.status === "running" || box.status === "stopping");
  if (running && !force) throw new BoxliteError("conflict", `box ${id} is running; stop it first, or remove it with rm -f`);
  if (!running) throw busyError(`box ${id}`, attempt.busy);
  await stopBox(home, id, 0);
  return FileLock.acquire(join(home.config.home, "locks", id), "rm", OWNER_RELEASE_MS);
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
  if (isActiveStatus(box.status) && isBoxVmm(box.pid, layout.dir) && !force) {
    throw new BoxliteError("conflict", `box ${box.id} is running; stop it first, or remove it with rm -f`);
  }
  // Nothing of the box may run on once its directory is gone, leftovers of a dead VM included.
  await killVmGroup(isActiveStatus(box.status) ? box.pid : null, layout.dir);
  discardBox(config, database, box.id);
  return box.id;
}
