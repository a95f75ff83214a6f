/**
 * What this host offers the jail (docs/security.md, "The jail around each VMM"): each layer
 * is found by looking, and one that is missing says why, so `boxlite info` can report it
 * and a box whose jail is on fails with that reason instead of running without it.
 */
import { existsSync, readFileSync } from "node:fs";
import { release } from "node:os";
import type { Config } from "../../config/config.ts";
import { type CgroupHost, findCgroupHost } from "./cgroup.ts";

export type SecurityMode = "enable" | "disable";
export const SECURITY_MODES: readonly SecurityMode[] = ["enable", "disable"];
/**
 * A box made without `--security` gets the jail: the reference's default is its fully
 * enabled profile, and the jail costs a box's start a few milliseconds (scripts/bench/jail.ts).
 */
export const DEFAULT_SECURITY: SecurityMode = "enable";

/** One layer: whether it applies to boxes on this host, and why (or why not). */
export interface JailLayer {
  active: boolean;
  reason: string;
  /** Whether a jailed box fails to start without it; only cgroups are optional, for a user who was given none. */
  required: boolean;
}

export interface JailHost {
  root: boolean;
  cgroups: CgroupHost;
  layers: {
    namespaces: JailLayer;
    filesystem: JailLayer;
    seccomp: JailLayer;
    uid: JailLayer;
    cgroups: JailLayer;
    rlimits: JailLayer;
  };
}

function readNumber(path: string): number | undefined {
  try {
    return Number(readFileSync(path, "utf8").trim());
  } catch {
    return undefined;
  }
}

/** The first Linux with mount_setattr(2), which the watchdog sets a view's mount flags with (host/jail-enter.c). */
const MIN_KERNEL: readonly [number, number] = [5, 12];

/** Why this kernel cannot host the jail's namespaces and view, or undefined when it can. */
export function kernelRefusal(release: string): string | undefined {
  const [major = 0, minor = 0] = release.split(/[.-]/).map(Number);
  if (major > MIN_KERNEL[0] || (major === MIN_KERNEL[0] && minor >= MIN_KERNEL[1])) return undefined;
  return `the jail needs Linux ${MIN_KERNEL.join(".")} or later (mount_setattr), and this kernel is ${release}`;
}

/** Why an unprivileged user cannot make a user namespace here, or undefined when it can. */
function userNamespaceRefusal(): string | undefined {
  if (readNumber("/proc/sys/user/max_user_namespaces") === 0) return "user namespaces are off (/proc/sys/user/max_user_namespaces is 0)";
  // Debian's own switch, present on its kernels only.
  if (readNumber("/proc/sys/kernel/unprivileged_userns_clone") === 0) return "unprivileged user namespaces are off (kernel.unprivileged_userns_clone=0)";
  if (!existsSync("/proc/self/ns/user")) return "this kernel has no user namespaces";
  return undefined;
}

function layer(active: boolean, yes: string, no: string, required = true): JailLayer {
  return { active, reason: active ? yes : no, required };
}

/** Looks at this host once per process: the programs on PATH, the user, the kernel's switches, the cgroup mounts. */
export function findJailHost(config: Config): JailHost {
  const root = process.getuid?.() === 0;
  // Root makes its own; a user needs one delegated to it. Without either, boxes run without cgroup limits: not a refusal.
  const cgroupsRequired = root || config.cgroup !== undefined;
  const cgroups = cgroupsRequired
    ? findCgroupHost("/sys/fs/cgroup", config.cgroup)
    : { ok: false as const, reason: "boxlite is not root and was given no delegated cgroup v2 (BOXLITE_CGROUP): boxes run without cgroup limits" };
  const refusal = kernelRefusal(release()) ?? (root ? undefined : userNamespaceRefusal());
  const namespaces = layer(
    refusal === undefined,
    root ? "mount, pid, ipc, uts, cgroup and network namespaces (as root)" : "user, mount, pid, ipc, uts, cgroup and network namespaces",
    refusal ?? "",
  );
  return {
    root,
    cgroups,
    layers: {
      namespaces,
      filesystem: layer(namespaces.active, "each process sees only its box's files, the kernel, the system disk, /usr and its sockets", namespaces.reason),
      seccomp: layer(true, "QEMU's -sandbox with every deny option; the krun VM process gets boxlite's filter", ""),
      uid: root
        ? layer(true, "the VMM and the network process run as the box's own unprivileged uid", "")
        : layer(true, "boxlite is not root: the VMM runs as this user, without capabilities", ""),
      cgroups: layer(
        cgroups.ok,
        cgroups.ok ? `cgroup ${cgroups.flavor}: memory, CPU and pids limits per box` : "",
        cgroups.ok ? "" : cgroups.reason,
        cgroupsRequired,
      ),
      rlimits: layer(true, "open files and core dumps limited, file descriptors closed, a clean environment", ""),
    },
  };
}

/** The first layer a jailed box needs and this host lacks, as the reason its start fails; undefined when all are there. */
export function jailRefusal(host: JailHost): string | undefined {
  for (const [name, { active, reason, required }] of Object.entries(host.layers))
    if (required && !active) return `the jail's ${name} layer is not available: ${reason}`;
  return undefined;
}

/** This host's jail for `boxlite info`: the default, why a jailed box could not start (if so), and each layer. */
export function describeJail(
  host: JailHost,
  fallback: SecurityMode,
): {
  default: SecurityMode;
  refusal?: string;
  cgroup?: string;
  layers: Record<string, { active: boolean; reason: string }>;
} {
  const refusal = jailRefusal(host);
  return {
    default: fallback,
    ...(refusal ? { refusal } : {}),
    ...(host.cgroups.ok ? { cgroup: host.cgroups.flavor } : {}),
    layers: Object.fromEntries(Object.entries(host.layers).map(([name, { active, reason }]) => [name, { active, reason }])),
  };
}
