/**
 * Per-box cgroups (docs/security.md, "The jail around each VMM"): memory, CPU and pids limits
 * on a box's whole process group (the watchdog, its helpers and the VMM). The watchdog
 * joins them itself before it starts anything (host/vmm-watch.c `--cgroup`), so nothing of
 * the box runs outside them; they are removed when the group is gone.
 *
 * Two layouts: cgroup v2 (one unified tree, its controllers enabled in the parent's
 * `cgroup.subtree_control`), and v1, where each controller has a tree of its own
 * (`/sys/fs/cgroup/{memory,cpu,pids}`; a "hybrid" host mounts v2 beside them without
 * controllers). Which one a host has is found by looking, never assumed.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BoxliteError } from "../../util/errors.ts";

export type CgroupFlavor = "v2" | "v1";

/** Where boxes' cgroups go on this host, or why there are none. */
export type CgroupHost = { ok: true; flavor: CgroupFlavor; parents: Record<Controller, string> } | { ok: false; reason: string };

export type Controller = "memory" | "cpu" | "pids";
const CONTROLLERS: readonly Controller[] = ["memory", "cpu", "pids"];

/** What a box may use: its guest memory plus a bounded overhead, its vCPUs' worth of CPU, a cap on tasks. */
export interface CgroupLimits {
  memoryBytes: number;
  /** Host CPUs, as a quota per period (cpus × period). */
  cpus: number;
  pids: number;
}

const CPU_PERIOD_US = 100_000;
/** The directory under the parent that holds boxlite's cgroups: one per box, named by its id. */
export const CGROUP_DIR = "boxlite";

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function writable(dir: string): boolean {
  try {
    return statSync(dir).isDirectory() && existsSync(join(dir, "cgroup.procs")) && (process.getuid?.() === 0 || statSync(dir).uid === process.getuid?.());
  } catch {
    return false;
  }
}

/**
 * Finds where this host puts boxes' cgroups. `root` is the cgroup mount point
 * (/sys/fs/cgroup); `delegated` (BOXLITE_CGROUP) names a v2 cgroup given to boxlite, the
 * way a non-root user gets one (systemd `Delegate=yes`); without it only root can have
 * cgroups here.
 */
export function findCgroupHost(root: string, delegated: string | undefined): CgroupHost {
  if (delegated !== undefined) return v2Host(delegated, `BOXLITE_CGROUP=${delegated}`);
  if (existsSync(join(root, "cgroup.controllers"))) return v2Host(root, root);
  const parents = Object.fromEntries(CONTROLLERS.map((name) => [name, join(root, name)])) as Record<Controller, string>;
  const missing = CONTROLLERS.filter((name) => !existsSync(join(parents[name], "cgroup.procs")));
  if (missing.length > 0)
    return { ok: false, reason: `no cgroup v2 at ${root} and no v1 ${missing.join(", ")} controller${missing.length > 1 ? "s" : ""} under it` };
  const unwritable = CONTROLLERS.filter((name) => !writable(parents[name]));
  if (unwritable.length > 0) return { ok: false, reason: `cgroup v1 ${unwritable.join(", ")} under ${root} not writable by this user (run as root)` };
  return { ok: true, flavor: "v1", parents };
}

function v2Host(dir: string, what: string): CgroupHost {
  const available = (readText(join(dir, "cgroup.controllers")) ?? "").trim().split(/\s+/);
  const missing = CONTROLLERS.filter((name) => !available.includes(name));
  if (!existsSync(join(dir, "cgroup.controllers"))) return { ok: false, reason: `${what} is not a cgroup v2 directory` };
  if (missing.length > 0) return { ok: false, reason: `cgroup v2 at ${what} has no ${missing.join(", ")} controller (not delegated)` };
  if (!writable(dir)) return { ok: false, reason: `cgroup v2 at ${what} is not writable by this user (no delegation)` };
  return { ok: true, flavor: "v2", parents: { memory: dir, cpu: dir, pids: dir } };
}

/** A box's cgroup directories, one per hierarchy (one for v2, three for v1). */
export function boxCgroupDirs(host: Extract<CgroupHost, { ok: true }>, boxId: string): string[] {
  const dirs = CONTROLLERS.map((name) => join(host.parents[name], CGROUP_DIR, boxId));
  return [...new Set(dirs)];
}

function put(dir: string, file: string, value: string): void {
  try {
    writeFileSync(join(dir, file), value);
  } catch (error) {
    throw new BoxliteError("vmm_failed", `the jail cannot set ${join(dir, file)} to ${value.trim()}: ${String(error)}`, { cause: error });
  }
}

/** Enables the controllers for the children of a v2 directory (its own processes must live elsewhere). */
function enableV2Controllers(dir: string): void {
  const enabled = (readText(join(dir, "cgroup.subtree_control")) ?? "").trim().split(/\s+/);
  const wanted = CONTROLLERS.filter((name) => !enabled.includes(name));
  if (wanted.length > 0) put(dir, "cgroup.subtree_control", wanted.map((name) => `+${name}`).join(" "));
}

/**
 * Makes the box's cgroups (an old one left by a crash is reused when empty) and sets its
 * limits; returns the watchdog's options that put its members in them (host/vmm-watch.c).
 * Neither way writes a whole process to a `cgroup.procs`, which takes the kernel's global
 * threadgroup lock and waits for an RCU grace period (5–11 ms here, on every start): under
 * v2 the members are forked straight into the cgroup (`--cgroup-dir`, clone3's
 * CLONE_INTO_CGROUP); under v1 the single-threaded watchdog joins each hierarchy through its
 * `tasks` (`--cgroup`), which moves one thread without that lock, and forks them after.
 */
export function createBoxCgroups(host: Extract<CgroupHost, { ok: true }>, boxId: string, limits: CgroupLimits): string[] {
  const quota = String(Math.round(limits.cpus * CPU_PERIOD_US));
  if (host.flavor === "v2") {
    const parent = join(host.parents.memory, CGROUP_DIR);
    enableV2Controllers(host.parents.memory);
    mkdirSync(parent, { recursive: true });
    enableV2Controllers(parent);
    const dir = join(parent, boxId);
    mkdirSync(dir, { recursive: true });
    put(dir, "memory.max", String(limits.memoryBytes));
    // No swap: a box over its memory is its own problem, not the host's disk's.
    if (existsSync(join(dir, "memory.swap.max"))) put(dir, "memory.swap.max", "0");
    put(dir, "cpu.max", `${quota} ${CPU_PERIOD_US}`);
    put(dir, "pids.max", String(limits.pids));
    return ["--cgroup-dir", dir];
  }
  const dirs = Object.fromEntries(CONTROLLERS.map((name) => [name, join(host.parents[name], CGROUP_DIR, boxId)])) as Record<Controller, string>;
  for (const dir of Object.values(dirs)) mkdirSync(dir, { recursive: true });
  put(dirs.memory, "memory.limit_in_bytes", String(limits.memoryBytes));
  put(dirs.cpu, "cpu.cfs_period_us", String(CPU_PERIOD_US));
  put(dirs.cpu, "cpu.cfs_quota_us", quota);
  put(dirs.pids, "pids.max", String(limits.pids));
  return [...new Set(Object.values(dirs))].flatMap((dir) => ["--cgroup", join(dir, "tasks")]);
}

/** The pids a cgroup directory holds (none when it is gone). */
function members(dir: string): number[] {
  return (readText(join(dir, "cgroup.procs")) ?? "")
    .split("\n")
    .filter((line) => /^\d+$/.test(line.trim()))
    .map(Number);
}

/** Whether a cgroup directory still holds a process. */
function populated(dir: string): boolean {
  const procs = readText(join(dir, "cgroup.procs"));
  return procs !== undefined && procs.trim() !== "";
}

/**
 * SIGKILLs every process still in the box's cgroups: what a dead owner's VM group left
 * (a watchdog and its VMM that have not yet seen their lifeline go). Only for a box whose
 * lock the caller holds, so no start of it is under way. Returns how many were signalled.
 */
export function killBoxCgroupMembers(host: Extract<CgroupHost, { ok: true }>, boxId: string): number {
  // v1 lists a process in each controller's tree: one signal each.
  const pids = new Set(boxCgroupDirs(host, boxId).flatMap(members));
  let killed = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
      killed++;
    } catch {
      // Gone already.
    }
  }
  return killed;
}

/** How long a killed VMM may take to leave its cgroup (it frees its guest's memory first). */
const EMPTY_GRACE_MS = 3_000;

/**
 * Removes the box's cgroups once the processes of its stopped group have left them (a
 * killed VMM is still freeing its memory for a moment after its parent saw it go); what
 * is still there after EMPTY_GRACE_MS is left for reconciliation, and returned.
 */
export async function removeBoxCgroupsWhenEmpty(host: Extract<CgroupHost, { ok: true }>, boxId: string): Promise<string[]> {
  const deadline = performance.now() + EMPTY_GRACE_MS;
  let left = removeBoxCgroups(host, boxId);
  while (left.length > 0 && performance.now() < deadline) {
    await Bun.sleep(5);
    left = removeBoxCgroups(host, boxId);
  }
  return left;
}

/**
 * Removes the box's cgroups that nothing runs in; a directory that still holds a process
 * (a VMM not yet gone) is left and returned. Idempotent.
 */
export function removeBoxCgroups(host: Extract<CgroupHost, { ok: true }>, boxId: string): string[] {
  const left: string[] = [];
  for (const dir of boxCgroupDirs(host, boxId)) {
    if (!existsSync(dir)) continue;
    if (populated(dir)) {
      left.push(dir);
      continue;
    }
    try {
      rmdirSync(dir);
    } catch {
      left.push(dir);
    }
  }
  return left;
}

/** The ids of boxes that have a cgroup here (reconciliation removes those of boxes not running). */
export function listBoxCgroups(host: Extract<CgroupHost, { ok: true }>): string[] {
  const ids = new Set<string>();
  for (const parent of new Set(Object.values(host.parents))) {
    try {
      for (const entry of readdirSync(join(parent, CGROUP_DIR), { withFileTypes: true })) if (entry.isDirectory()) ids.add(entry.name);
    } catch {
      // No boxlite directory in this hierarchy yet.
    }
  }
  return [...ids];
}
