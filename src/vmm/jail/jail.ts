/**
 * The jail around a box's VMM and its helpers (docs/security.md, "The jail around each
 * VMM"): opened once per VM start, it checks that every layer this host needs is there
 * (a missing one fails the start with why: never a silent fallback), gives the box its
 * uid and the files the VMM writes to that uid when boxlite is root, makes the box's
 * cgroups, and gives each process's command line its jail's options (view.ts). Released
 * once the box's process group is gone: its cgroups are removed.
 */
import { chmodSync, chownSync, closeSync, existsSync, openSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Config } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";
import { isPidAlive } from "../../util/proc.ts";
import { type Identity, type JailRuntime, type JailView, jailArgv } from "./view.ts";
import { type CgroupLimits, createBoxCgroups, killBoxCgroupMembers, listBoxCgroups, removeBoxCgroups, removeBoxCgroupsWhenEmpty } from "./cgroup.ts";
import { findJailHost, type JailHost, jailRefusal } from "./host.ts";

/**
 * Boxes' uids, when boxlite is root: each box one of its own above this (so no two boxes'
 * processes can signal or trace each other even if they could see each other), all in
 * one group whose number is this, which a template's memory file is shared with. Far above
 * the ranges /etc/subuid hands out, and below 2^31.
 */
export const JAIL_ID_BASE = 1_600_000_000;
const JAIL_UIDS = 65_534;
/** Memory a box's processes may use beyond its guest's: QEMU's own (its TCG code cache above all), the network and file servers. */
export const MEMORY_OVERHEAD_MIB = 384;
/**
 * CPU a box's processes may use beyond its vCPUs': QEMU's device emulation and the network and
 * file servers work on the guest's behalf beside them. Capped at the vCPUs alone, a guest's own
 * I/O competed with its vCPUs (a 1-vCPU box untarred into a volume 10 % slower), and fsd could
 * not poll for the next request (fsd/spin.h) without throttling the vCPU it waits for.
 */
export const CPU_OVERHEAD_CPUS = 1;
/** Tasks (processes and threads) a box's group may have: QEMU's vCPU and I/O threads (its pool alone may reach 64), the helpers. */
export const PIDS_MAX = 512;
/**
 * Open files per process (soft and hard): bounded, yet fsd, which raises its soft limit to
 * the hard one and sizes its inode cache from it (half, split among its shares), keeps a
 * cache of thousands of files per share.
 */
export const NOFILE_MAX = 16384;

/** What a VM start asks of the jail. */
export interface JailRequest {
  /** Names the VM's cgroup and gives its uid: a box's id, or a template build's own name. */
  name: string;
  cpus: number;
  memoryMib: number;
  /** Made by boxlite, written by the jailed VMM: given to the box's uid when boxlite is root (a directory with the files in it). */
  owned: string[];
  /**
   * Read by the jailed VMM, written by nobody (a disk's backing files, 0600 as boxlite makes
   * them): given to the jail's group, readable, when boxlite is root. A box sees only its own
   * (its mount namespace), so the group reaches no other box's.
   */
  readable: string[];
}

export interface Jail {
  /** The watchdog's own options (host/vmm-watch.c): the cgroups its members start in, the rlimits, --jailed. */
  watchOptions: string[];
  /** The watchdog's command line for one jailed process (view.ts). */
  wrap(argv: readonly string[], view: JailView): string[];
  /** Removes the VM's cgroups: once its process group is gone. */
  release(): Promise<void>;
}

let cachedHost: JailHost | undefined;

/** How long a removal waits for a box's killed members to leave its cgroups: 300 × 10 ms, a VMM freeing its guest's memory on a loaded host included. */
const LEFTOVER_TRIES = 300;
const LEFTOVER_PAUSE_MS = 10;

/**
 * Removes what a VM's jail left when its owner died before releasing it — the VM's cgroups,
 * those nothing runs in — and those of template builds whose process is gone. The caller
 * holds the box's lock, so no start of it is under way.
 */
export function removeJailLeftovers(config: Config, name: string): void {
  const host = jailHost(config);
  if (!host.cgroups.ok) return;
  // Members of a dead owner's group may still run (a watchdog that has not yet seen its
  // lifeline go, its VMM): they are killed, and count in their cgroup until they have exited,
  // so a few more tries (the soak found cgroups left by a removal right after a kill).
  let left = removeBoxCgroups(host.cgroups, name);
  if (left.length > 0) killBoxCgroupMembers(host.cgroups, name);
  for (let tries = 0; left.length > 0 && tries < LEFTOVER_TRIES; tries++) {
    Bun.sleepSync(LEFTOVER_PAUSE_MS);
    left = removeBoxCgroups(host.cgroups, name);
  }
  for (const other of listBoxCgroups(host.cgroups)) {
    const builder = TEMPLATE_BUILDER.exec(other);
    if (builder && !isPidAlive(Number(builder[1]))) removeBoxCgroups(host.cgroups, other);
  }
}

/** A template build's cgroup: `template-<key>.tmp-<pid>-<random>`, as its directory (templates.ts). */
const TEMPLATE_BUILDER = /^template-.*\.tmp-(\d+)-/;

/** This host's jail layers, looked at once per process. */
export function jailHost(config: Config): JailHost {
  cachedHost ??= findJailHost(config);
  return cachedHost;
}

/** The uid of the box `name` (stable across its starts), in the jail's group. */
export function jailIdentity(name: string): Identity {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(name)) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  return { uid: JAIL_ID_BASE + 1 + (hash % JAIL_UIDS), gid: JAIL_ID_BASE };
}

/** Gives `path` (and, for a directory, what is in it) to the box's uid. */
function own(path: string, identity: Identity): void {
  chownSync(path, identity.uid, identity.gid);
  if (!statSync(path).isDirectory()) return;
  for (const entry of readdirSync(path)) chownSync(join(path, entry), identity.uid, identity.gid);
}

/** Lets the jail's group read `path`, keeping its owner. */
function shareRead(path: string, gid: number): void {
  const stat = statSync(path);
  if (stat.gid !== gid) chownSync(path, stat.uid, gid);
  if ((stat.mode & 0o040) === 0) chmodSync(path, (stat.mode & 0o7777) | 0o040);
}

function limitsOf(request: JailRequest): CgroupLimits {
  return { memoryBytes: (request.memoryMib + MEMORY_OVERHEAD_MIB) * 1024 * 1024, cpus: request.cpus + CPU_OVERHEAD_CPUS, pids: PIDS_MAX };
}

export function openJail(config: Config, request: JailRequest): Jail {
  const host = jailHost(config);
  const refusal = jailRefusal(host);
  if (refusal !== undefined) throw new BoxliteError("missing_dependency", `${refusal}; or start the box with --security disable`);
  const identity = host.root ? jailIdentity(request.name) : undefined;
  try {
    // A file the VMM writes must exist to be bound into its view (the console log of a first start).
    for (const path of request.owned) if (!existsSync(path)) closeSync(openSync(path, "a"));
    if (identity) for (const path of request.owned) own(path, identity);
    if (identity) for (const path of request.readable) shareRead(path, identity.gid);
  } catch (error) {
    throw new BoxliteError("vmm_failed", `the jail cannot give the box's files to its uid ${identity?.uid}: ${String(error)}`, { cause: error });
  }
  const cgroups = host.cgroups.ok ? host.cgroups : undefined;
  const cgroupOptions = cgroups ? createBoxCgroups(cgroups, request.name, limitsOf(request)) : [];
  const runtime: JailRuntime = { env: config.jailEnv, ...(identity ? { identity } : {}) };
  return {
    watchOptions: [...cgroupOptions, "--rlimit", `nofile=${NOFILE_MAX}`, "--rlimit", "core=0", "--jailed"],
    wrap: (argv, view) => jailArgv(runtime, view, argv),
    release: async () => {
      if (cgroups) await removeBoxCgroupsWhenEmpty(cgroups, request.name);
    },
  };
}

/**
 * Gives a file boxlite made for a VMM to open (a snapshot's overlay, the migration socket)
 * to the owner of its directory: the box's uid when the VMM is jailed and boxlite is root
 * (the jail gave it that directory), boxlite itself otherwise — so one rule serves both.
 */
export function giveToDirOwner(path: string): void {
  if (process.getuid?.() !== 0) return;
  const dir = statSync(dirname(path));
  const file = statSync(path);
  if (file.uid !== dir.uid || file.gid !== dir.gid) chownSync(path, dir.uid, dir.gid);
}
