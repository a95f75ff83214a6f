/**
 * A box's own lock (`locks/<box-id>`): held by whoever is changing the box (running it in
 * the foreground, stopping, removing), so two processes never change one box at once.
 * The loser is told who holds it; a holder that died has released it already (flock).
 */
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { busyError, FileLock } from "../util/flock.ts";

/** Takes the box's lock without waiting; reports the holder when another process has it. */
export function tryLockBox(config: Config, boxId: string, operation: string): ReturnType<typeof FileLock.tryAcquire> {
  const dir = join(config.home, "locks");
  mkdirSync(dir, { recursive: true }); // a home written by the reference may not have it yet
  return FileLock.tryAcquire(join(dir, boxId), operation);
}

/** Takes the box's lock, or fails at once with "box <id> is busy: <operation> by pid N". */
export function lockBox(config: Config, boxId: string, operation: string): FileLock {
  const attempt = tryLockBox(config, boxId, operation);
  if (attempt instanceof FileLock) return attempt;
  throw busyError(`box ${boxId}`, attempt.busy);
}

/** Removes the lock file of a box that no longer exists (its holder is releasing it). */
export function removeBoxLock(config: Config, boxId: string): void {
  rmSync(join(config.home, "locks", boxId), { force: true });
  rmSync(join(config.home, "locks", `${boxId}.disk`), { force: true }); // disk-op.ts's
}
