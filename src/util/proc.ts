/**
 * Processes as /proc shows them, told apart by their start time: a pid alone may name a
 * later process once the first one is gone, a pid with its start time (field 22 of
 * /proc/<pid>/stat, clock ticks since boot) never does. Everything that records a
 * process to find or kill it later records both.
 */
import { readFileSync } from "node:fs";

/** A process as recorded: its pid, and the start time that tells it from a later process with that pid. */
export interface ProcessFingerprint {
  pid: number;
  startTime: string;
}

/**
 * The fields of /proc/<pid>/stat after the command name (so index 0 is field 3, the
 * state), or undefined when the process is gone.
 */
export function procStatFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name may itself hold spaces and parentheses: split after its last ")".
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/** The process's start time (field 22), or undefined when it is gone. */
export function startTimeOf(pid: number): string | undefined {
  return procStatFields(pid)?.[19];
}

/** Whether the recorded process still runs: same pid, same start time, not a zombie waiting to be reaped. */
export function isRunning(process: ProcessFingerprint): boolean {
  const fields = procStatFields(process.pid);
  return fields !== undefined && fields[0] !== "Z" && fields[19] === process.startTime;
}

/** SIGKILLs the recorded process if it still runs; a reused pid is left alone. True when a signal was sent. */
export function killIfRunning(recorded: ProcessFingerprint): boolean {
  if (!isRunning(recorded)) return false;
  try {
    process.kill(recorded.pid, "SIGKILL");
    return true;
  } catch {
    return false; // it ended between the check and the signal
  }
}

/** Whether a process with this pid exists (one of another user's counts: EPERM). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
