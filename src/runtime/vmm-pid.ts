/**
 * What a box's running VM is, on disk, so that any process can find it again or kill it:
 *
 * - `boxes/<id>/shim.pid`, as the reference writes it: the watchdog's pid (the leader of
 *   the box's process group, "the VMM" to everything outside src/vmm) and its start time
 *   (field 22 of /proc/<pid>/stat, clock ticks since boot) on separate lines.
 * - `boxes/<id>/group.pid`, ours: every process the watchdog started — the helpers, then
 *   the VMM itself — one per line as `PID START_TIME NAME`.
 *
 * A pid is the recorded process only while both match: a reused pid has another start time.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type ProcessFingerprint, startTimeOf } from "../util/proc.ts";
import type { VmMember } from "../vmm/backend.ts";

const FILE = "shim.pid";
const GROUP_FILE = "group.pid";

export function writeVmmPid(boxDir: string, pid: number): void {
  writeFileSync(join(boxDir, FILE), `${pid}\n${startTimeOf(pid) ?? ""}\n`);
}

/** Records the processes beside and under the watchdog, as it reported them. */
export function writeVmmGroup(boxDir: string, members: readonly VmMember[]): void {
  writeFileSync(join(boxDir, GROUP_FILE), members.map((member) => `${member.pid} ${member.startTime} ${member.name}\n`).join(""));
}

/** The VM is gone: both records go. */
export function removeVmmPid(boxDir: string): void {
  rmSync(join(boxDir, FILE), { force: true });
  rmSync(join(boxDir, GROUP_FILE), { force: true });
}

/** The watchdog as shim.pid records it, when the file has both lines. */
export function readVmmPid(boxDir: string): ProcessFingerprint | undefined {
  let lines: string[];
  try {
    lines = readFileSync(join(boxDir, FILE), "utf8").split("\n");
  } catch {
    return undefined;
  }
  const pid = Number(lines[0]);
  return Number.isInteger(pid) && pid > 0 && lines[1] ? { pid, startTime: lines[1] } : undefined;
}

/** The group as group.pid records it; a line that is not `PID START_TIME NAME` is skipped (never killed). */
export function readVmmGroup(boxDir: string): VmMember[] {
  let text: string;
  try {
    text = readFileSync(join(boxDir, GROUP_FILE), "utf8");
  } catch {
    return [];
  }
  return text.split("\n").flatMap((line) => {
    const match = /^(\d+) (\d+) (\S+)$/.exec(line);
    return match ? [{ pid: Number(match[1]), startTime: match[2] as string, name: match[3] as string }] : [];
  });
}

/** False only when shim.pid names this pid with another start time (a reused pid); absent or unreadable says nothing. */
export function startTimeMatches(boxDir: string, pid: number): boolean {
  const recorded = readVmmPid(boxDir);
  if (recorded?.pid !== pid) return true;
  return startTimeOf(pid) === recorded.startTime;
}
