/**
 * A box's VM as one group of processes — the watchdog (shim.pid), then the helpers and
 * the VMM it started (group.pid) — for the code that measures it or cleans up after it.
 * Each is matched by pid and start time, so a reused pid is never measured or killed.
 */
import { isRunning, killIfRunning, type ProcessFingerprint } from "../util/proc.ts";
import { readVmmGroup, readVmmPid } from "./vmm-pid.ts";

/** Every recorded process of the box's group, whether it still runs or not. */
function recordedGroup(boxDir: string): ProcessFingerprint[] {
  const watchdog = readVmmPid(boxDir);
  return [...(watchdog ? [watchdog] : []), ...readVmmGroup(boxDir)];
}

/** The recorded helpers and VMM that still run (the watchdog is the caller's: it checks it by its command line too). */
export function runningMembers(boxDir: string): ProcessFingerprint[] {
  return readVmmGroup(boxDir).filter(isRunning);
}

/**
 * SIGKILLs every recorded process of the group that still runs: what a VM that died
 * without its watchdog stopping the rest (the watchdog itself killed, say) left behind.
 * Returns those signalled.
 */
export function killLeftovers(boxDir: string): ProcessFingerprint[] {
  return recordedGroup(boxDir).filter(killIfRunning);
}

/** Waits until none of `processes` runs; false when some still do after `timeoutMs`. */
export async function waitUntilGone(processes: readonly ProcessFingerprint[], timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processes.some(isRunning)) {
    if (Date.now() > deadline) return false;
    await Bun.sleep(10);
  }
  return true;
}
