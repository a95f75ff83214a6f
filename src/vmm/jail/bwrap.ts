/**
 * One jailed process's bubblewrap command line (docs/security.md, "The jail around each
 * VMM"): new namespaces, an empty root with only what the process needs bound at the same
 * paths, no environment, and — when boxlite is root — setpriv dropping it to its box's
 * uid with no capabilities and no new privileges, once bwrap has set up its view.
 *
 * bwrap runs the process as the pid namespace's init (`--as-pid-1`) and stays its only
 * parent; the watchdog finds it as bwrap's one child and signals it rather than bwrap
 * (host/vmm-watch.c `--jailed`); `--die-with-parent` ends it with bwrap, and with it the
 * namespace. No `--new-session`: the process stays in the watchdog's process group, so
 * killing that group ends it too (it has no terminal to be fed keystrokes through).
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

/** How the jail runs on this host: the programs it uses and whether boxlite is root. */
export interface JailRuntime {
  bwrap: string;
  /** Present when boxlite is root: the member is dropped to `identity`. */
  setpriv?: string;
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

/** Shallower paths first, so that a file bound inside a bound directory is not hidden by it. */
function byDepth(paths: Iterable<string>): string[] {
  return [...new Set(paths)].sort((a, b) => a.split("/").length - b.split("/").length || a.localeCompare(b));
}

/** Directories the view itself makes (and so never makes again). */
const MADE = new Set(["/", "/tmp", "/usr", "/proc", "/dev"]);

/**
 * The directories leading to the bound paths, made 0755 in the view first: bwrap would copy
 * each one's mode from the host, and a 0700 home would shut the dropped uid out of its own box.
 */
function ancestors(paths: readonly string[]): string[] {
  const bound = new Set(paths);
  const dirs = new Set<string>();
  for (const path of paths) for (let dir = dirname(path); !MADE.has(dir) && !bound.has(dir); dir = dirname(dir)) dirs.add(dir);
  return byDepth(dirs).flatMap((dir) => ["--perms", "0755", "--dir", dir]);
}

function binds(view: JailView, program: string): string[] {
  // A library named by its soname alone is found by the loader in /usr.
  const readOnly = byDepth([program, ...view.readOnly]).filter((path) => path.startsWith("/") && !path.startsWith("/usr/"));
  const entries = [...readOnly.map((path) => ({ path, flag: "--ro-bind" })), ...byDepth(view.readWrite).map((path) => ({ path, flag: "--bind" }))].sort(
    (a, b) => a.path.split("/").length - b.path.split("/").length,
  );
  return [...ancestors(entries.map(({ path }) => path)), ...entries.flatMap(({ path, flag }) => [flag, path, path])];
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

/**
 * The bwrap argv that runs `argv` jailed with `view`. `heldOn`: bwrap sets the view up,
 * then waits for a byte (or EOF) on that fd before it runs the program, and closes it: the
 * watchdog holds the VMM there while its helpers start (host/vmm-watch.c).
 */
export function jailArgv(runtime: JailRuntime, view: JailView, argv: readonly string[], heldOn?: number): string[] {
  const [program = "", ...args] = argv;
  const unprivileged = runtime.identity === undefined;
  const groups = deviceGroups(view.devices);
  const namespaces = [
    // As root, no user namespace: its uid must stay the box's real one on the host (setpriv below).
    ...(unprivileged ? ["--unshare-user", "--disable-userns"] : []),
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup",
    ...(view.network ? [] : ["--unshare-net"]),
  ];
  const drop =
    runtime.identity && runtime.setpriv && view.dropUid
      ? [
          runtime.setpriv,
          `--reuid=${runtime.identity.uid}`,
          `--regid=${runtime.identity.gid}`,
          ...(groups.length > 0 ? [`--groups=${groups.join(",")}`] : ["--clear-groups"]),
          "--inh-caps=-all",
          "--bounding-set=-all",
          "--no-new-privs",
          // Changing uid clears the parent-death signal bwrap set: set it again.
          "--pdeathsig=SIGKILL",
          "--",
        ]
      : [];
  return [
    runtime.bwrap,
    ...namespaces,
    "--die-with-parent",
    "--as-pid-1",
    "--clearenv",
    "--setenv",
    "PATH",
    "/usr/bin",
    // The box's uid has no passwd entry to find a home in: a process that asks (Bun does) gets the view's scratch.
    "--setenv",
    "HOME",
    "/tmp",
    ...Object.entries(runtime.env).flatMap(([name, value]) => ["--setenv", name, value]),
    "--ro-bind",
    "/usr",
    "/usr",
    ...USR_LINKS.flatMap(([target, link]) => ["--symlink", target, link]),
    // The loader's cache: without it every library is searched for.
    "--ro-bind-try",
    "/etc/ld.so.cache",
    "/etc/ld.so.cache",
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    // A host without the device (no KVM) has nothing to bind: the VMM then says what it misses.
    ...view.devices.flatMap((device) => ["--dev-bind-try", device, device]),
    "--tmpfs",
    "/tmp",
    ...binds(view, program),
    // A root process not dropped to the box's uid (the file server) keeps only what serving files needs.
    ...(!unprivileged && !view.dropUid ? ["--cap-drop", "ALL", ...FILE_SERVER_CAPS.flatMap((cap) => ["--cap-add", cap])] : []),
    "--chdir",
    "/",
    ...(heldOn === undefined ? [] : ["--block-fd", String(heldOn)]),
    "--",
    ...drop,
    program,
    ...args,
  ];
}

/** What a root file server needs to act on files as their owners would: nothing that reaches beyond its shares. */
const FILE_SERVER_CAPS = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_SETUID", "CAP_SETGID", "CAP_MKNOD"];

/** The directories a process needs to create or reach its unix sockets in. */
export function socketDirs(paths: readonly string[]): string[] {
  return [...new Set(paths.map((path) => dirname(path)))];
}
