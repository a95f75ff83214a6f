/**
 * From a box's options to what runs: the defaults a new box gets, and the process its
 * main command (or an exec) is — docker's command rules, the image's environment under
 * the box's, its working directory and user.
 */
import type { ImageConfig } from "../image/image.ts";
import { type BoxOptions, checkUser, checkWorkingDir, DEFAULT_CPUS, DEFAULT_MEMORY_MIB } from "../model/box-options.ts";
import { BoxliteError } from "../util/errors.ts";
import { DEFAULT_SECURITY } from "../vmm/jail/host.ts";

/** A foreground `run`: the box's options, and how the caller's terminal is wired to its main command. */
export interface RunOptions extends BoxOptions {
  /** Forward the caller's stdin to the main command (else it gets /dev/null). */
  stdin?: boolean;
  /** With `tty`: the terminal's size (default 24×80). */
  ttySize?: { rows: number; cols: number };
}

/** Everything a stored box says about itself, with the defaults filled in (what a new box's record holds). */
export type ResolvedOptions = BoxOptions & Required<Pick<BoxOptions, "cpus" | "memoryMib" | "env" | "tty" | "autoRemove" | "detach" | "network" | "security">>;

/** A new box's options with their defaults: the network is on unless disabled. */
export function withDefaults(options: BoxOptions, detach: boolean): ResolvedOptions {
  return {
    ...options,
    cpus: options.cpus ?? DEFAULT_CPUS,
    memoryMib: options.memoryMib ?? DEFAULT_MEMORY_MIB,
    env: options.env ?? {},
    tty: options.tty ?? false,
    autoRemove: options.autoRemove ?? false,
    detach: options.detach ?? detach,
    network: options.network ?? { mode: "enabled", allowNet: [] },
    // A box from before the option (or from the reference without it) gets the default.
    security: options.security ?? DEFAULT_SECURITY,
  };
}

/** A box's hostname, in its guest and in its commands' HOSTNAME: the end of its id, as docker shortens container ids. */
export function boxHostname(id: string): string {
  return id.slice(-12);
}

/** Whether the box runs a command the user chose rather than its image's default (the state machine's no-rerun rule). */
export function hasUserCommand(options: BoxOptions): boolean {
  return options.cmd !== undefined || options.entrypoint !== undefined;
}

export interface ProcessSpec {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
}

/** What a process runs as, over the box's options: an exec's own command, env, working directory and user. */
export interface ProcessOverrides {
  command?: string[];
  env?: Record<string, string>;
  workingDir?: string;
  user?: string;
  tty?: boolean;
}

/** Later entries override earlier ones with the same name, keeping first-seen order. */
function mergeEnv(...lists: Array<Array<readonly [string, string]>>): string[] {
  const merged = new Map<string, string>();
  for (const [name, value] of lists.flat()) merged.set(name, value);
  return [...merged].map(([name, value]) => `${name}=${value}`);
}

function imageEnv(env: string[]): Array<[string, string]> {
  return env.map((entry) => {
    const eq = entry.indexOf("=");
    return eq < 0 ? [entry, ""] : [entry.slice(0, eq), entry.slice(eq + 1)];
  });
}

/**
 * The main command of a box with `options` (or, with `overrides.command`, an exec in it):
 * docker's rules — a command replaces the image's CMD and keeps its ENTRYPOINT, a new
 * entrypoint drops the CMD too — with the box's environment over the image's, and the
 * exec's over both.
 */
export function processSpec(options: BoxOptions, image: ImageConfig, hostname: string, overrides: ProcessOverrides = {}): ProcessSpec {
  const argv =
    overrides.command ??
    (() => {
      const entrypoint = options.entrypoint ?? image.entrypoint;
      const cmd = options.cmd ?? (options.entrypoint ? [] : image.cmd);
      return [...entrypoint, ...cmd];
    })();
  if (argv.length === 0) throw new BoxliteError("invalid_argument", "no command to run: the image has no CMD or ENTRYPOINT; give one after --");
  const user = overrides.user ?? options.user ?? image.user;
  checkUser(user);
  const workdir = overrides.workingDir ?? options.workingDir ?? (image.workingDir || "/");
  checkWorkingDir(workdir);
  const tty = overrides.tty ?? options.tty ?? false;
  const defaults: Array<[string, string]> = [["HOSTNAME", hostname], ...(tty ? [["TERM", "xterm"] as [string, string]] : [])];
  const env = mergeEnv(defaults, imageEnv(image.env), Object.entries(options.env ?? {}), Object.entries(overrides.env ?? {}));
  return { argv, env, cwd: workdir, user };
}
