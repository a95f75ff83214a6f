/**
 * One jailed process's jail, as the options vmm-watch takes before its command line
 * (host/jail-enter.h; docs/security.md, "The jail around each VMM"): new namespaces, an
 * empty root with only what the process needs bound at the same paths, no environment, and —
 * when boxlite is root — the box's uid with no capabilities and no new privileges.
 *
 * vmm-watch clones the process into its namespaces as their pid 1 and sets its view and
 * identity up in it before the exec: no program of its own (bubblewrap and setpriv before
 * 2026-12-08) runs in between. The process stays in the watchdog's process group, so killing
 * that group ends it too (it has no terminal to be fed keystrokes through).
 */
import { statSync } from "node:fs";
import { dirname } from "node:path";

/** What one process may see and do besides the system's programs and libraries (/usr, read-only). */
export interface JailView {
  /** Bound read-only at the same path (files or directories). */
  readOnly: string[];
  /** Bound read-write at the same path; a socket's directory, so it can be made there. */
  readWrite: string[];
  /** Device nodes bound in (/dev/kvm). */
  devices: string[];
  /** Keeps the host's network: only the network process does. */
  network: boolean;
  /** Run as the box's uid when boxlite is root (the file server keeps boxlite's: it serves the user's files as the user). */
  dropUid: boolean;
}

export interface Identity {
  uid: number;
  gid: number;
}

/** How the jail runs on this host: whether boxlite is root, and the environment a process keeps. */
export interface JailRuntime {
  /** Present when boxlite is root: the member is dropped to `identity`. Absent: a user namespace as boxlite's own user. */
  identity?: Identity;
  /** The environment a jailed process keeps: BOXLITE_JAIL_ENV's names, with their values here (all else is cleared). */
  env: Record<string, string>;
}

/** Debian 12 is merged-/usr: these are links into it, and programs name their loader through /lib64. */
const USR_LINKS: ReadonlyArray<[string, string]> = [
  ["usr/bin", "/bin"],
  ["usr/sbin", "/sbin"],
  ["usr/lib", "/lib"],
  ["usr/lib64", "/lib64"],
];

/**
 * Shallower paths first, so that a file bound inside a bound directory is not hidden by it.
 * The directories leading to each are made 0755 in the view (a 0700 home would shut the
 * dropped uid out of its own box).
 */
function byDepth(paths: Iterable<string>): string[] {
  return [...new Set(paths)].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

function binds(view: JailView, program: string): string[] {
  // A library named by its soname alone is found by the loader in /usr.
  const readOnly = byDepth([program, ...view.readOnly]).filter((path) => path.startsWith("/") && !path.startsWith("/usr/"));
  const entries = [...readOnly.map((path) => ({ path, flag: "--ro" })), ...byDepth(view.readWrite).map((path) => ({ path, flag: "--rw" }))].sort(
    (a, b) => a.path.split("/").length - b.path.split("/").length,
  );
  return entries.flatMap(({ path, flag }) => [flag, path]);
}

/**
 * The groups that may use the devices in the view (/dev/kvm is often 0660, group kvm): the
 * dropped process keeps those and no other.
 */
function deviceGroups(devices: readonly string[]): number[] {
  return [
    ...new Set(
      devices.flatMap((device) => {
        try {
          const stat = statSync(device);
          return (stat.mode & 0o060) === 0o060 ? [stat.gid] : [];
        } catch {
          return [];
        }
      }),
    ),
  ];
}

/** Linux's numbers for what a root file server keeps: acting on files as their owners would, nothing that reaches beyond its shares. */
const FILE_SERVER_CAPS = {
  CAP_CHOWN: 0,
  CAP_DAC_OVERRIDE: 1,
  CAP_DAC_READ_SEARCH: 2,
  CAP_FOWNER: 3,
  CAP_FSETID: 4,
  CAP_SETGID: 6,
  CAP_SETUID: 7,
  CAP_MKNOD: 27,
};

/** Who the process runs as: the box's uid (root), boxlite's with the file capabilities (a root file server), or boxlite's in a user namespace. */
function identityOptions(runtime: JailRuntime, view: JailView): string[] {
  if (!runtime.identity) return ["--userns"];
  if (!view.dropUid) return ["--caps", Object.values(FILE_SERVER_CAPS).join(",")];
  const groups = deviceGroups(view.devices);
  return ["--uid", String(runtime.identity.uid), String(runtime.identity.gid), groups.length > 0 ? groups.join(",") : "-"];
}

/** The vmm-watch command line (its jail's options, `--`, the program) that runs `argv` jailed with `view`. */
export function jailArgv(runtime: JailRuntime, view: JailView, argv: readonly string[]): string[] {
  const [program = "", ...args] = argv;
  return [
    ...identityOptions(runtime, view),
    ...(view.network ? ["--share-net"] : []),
    "--setenv",
    "PATH=/usr/bin",
    // The box's uid has no passwd entry to find a home in: a process that asks (Bun does) gets the view's scratch.
    "--setenv",
    "HOME=/tmp",
    ...Object.entries(runtime.env).flatMap(([name, value]) => ["--setenv", `${name}=${value}`]),
    "--ro",
    "/usr",
    ...USR_LINKS.flatMap(([target, link]) => ["--symlink", target, link]),
    // The loader's cache: without it every library is searched for.
    "--ro-try",
    "/etc/ld.so.cache",
    // A host without the device (no KVM) has nothing to bind: the VMM then says what it misses.
    ...view.devices.flatMap((device) => ["--dev-try", device]),
    ...binds(view, program),
    "--",
    program,
    ...args,
  ];
}

/** The directories a process needs to create or reach its unix sockets in. */
export function socketDirs(paths: readonly string[]): string[] {
  return [...new Set(paths.map((path) => dirname(path)))];
}
