/**
 * `boxes/<id>/shim.pid`, as the reference writes it: the VMM's pid and its start time
 * (field 22 of /proc/<pid>/stat, clock ticks since boot) on separate lines. A pid is the
 * box's VMM only while both match: a reused pid has another start time.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const FILE = "shim.pid";

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

export function writeVmmPid(boxDir: string, pid: number): void {
  writeFileSync(join(boxDir, FILE), `${pid}\n${startTimeOf(pid) ?? ""}\n`);
}

export function removeVmmPid(boxDir: string): void {
  rmSync(join(boxDir, FILE), { force: true });
}

/** False only when the file names this pid with another start time (a reused pid); absent or unreadable says nothing. */
export function startTimeMatches(boxDir: string, pid: number): boolean {
  let lines: string[];
  try {
    lines = readFileSync(join(boxDir, FILE), "utf8").split("\n");
  } catch {
    return true;
  }
  if (Number(lines[0]) !== pid || !lines[1]) return true;
  return startTimeOf(pid) === lines[1];
}
