/**
 * Removing a box: under its lock, its rows, its directory and its lock file go. A box
 * that still has a VM is refused unless forced; forcing kills a VM only when no boxlite
 * process holds the box (we hold its lock) and the process is really this box's VMM.
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

/** Kills the VMM's process group (the watchdog and QEMU, see host/vmm-watch.c) and waits for it to go. */
async function killVmm(pid: number, boxDir: string): Promise<void> {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    return;
  }
  const deadline = Date.now() + 10_000;
  while (isBoxVmm(pid, boxDir) && Date.now() < deadline) await Bun.sleep(10);
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
  const vmmAlive = isBoxVmm(box.pid, layout.dir);
  if (isActiveStatus(box.status) && vmmAlive) {
    if (!force) throw new BoxliteError("conflict", `box ${box.id} is running; stop it first, or remove it with rm -f`);
    await killVmm(box.pid as number, layout.dir);
  }
  discardBox(config, database, box.id);
  return box.id;
}
