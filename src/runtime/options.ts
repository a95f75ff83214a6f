/**
 * Box options for `run`, validated once: limits as the reference (cpus 1–255, memory
 * 128 MiB–64 GiB), docker's env and user shapes, and docker's command rules.
 */
import { BoxliteError } from "../util/errors.ts";
import type { ImageConfig } from "../image/image.ts";

export const DEFAULT_CPUS = 1;
export const DEFAULT_MEMORY_MIB = 512;
export const CPUS_MAX = 255;
export const MEMORY_MIN_MIB = 128;
export const MEMORY_MAX_MIB = 65536;

export interface RunOptions {
  /** Image reference, `oci:PATH[:TAG]` or `docker-archive:PATH`; undefined means the embedded default image. */
  image?: string;
  /** An OCI layout directory or a docker archive to use instead of an image (`--rootfs`). */
  rootfs?: string;
  /** Replaces the image's CMD (docker semantics; ENTRYPOINT is kept). */
  command?: string[];
  /** Replaces the image's ENTRYPOINT and drops its CMD (docker's `--entrypoint`); `[]` clears it. */
  entrypoint?: string[];
  /** `KEY=VALUE` entries that override the image's environment. */
  env?: string[];
  workdir?: string;
  user?: string;
  /** A pseudo-terminal of this size, or none (separate stdout and stderr). */
  tty?: { rows: number; cols: number };
  /** Whether the command gets a stdin stream (else /dev/null). */
  stdin?: boolean;
  cpus?: number;
  memoryMib?: number;
  /** Remove the box's directory and disk when the command ends. */
  autoRemove?: boolean;
  /** A unique name to find the box by, besides its id. */
  name?: string;
}

/** Docker's rule for names: a letter or digit, then letters, digits, _ . - (and at most 128 here, as ids). */
const BOX_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export function checkName(name: string | undefined): string | null {
  if (name === undefined) return null;
  if (!BOX_NAME.test(name)) {
    throw new BoxliteError("invalid_argument", `invalid box name ${JSON.stringify(name)}; use a letter or digit, then letters, digits, _ . - (up to 128)`);
  }
  return name;
}

export interface ProcessSpec {
  argv: string[];
  env: string[];
  cwd: string;
  user: string;
}

function checkInteger(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new BoxliteError("invalid_argument", `${name} ${value} is out of range; use a whole number from ${min} to ${max}`);
  }
  return value;
}

export function checkResources(options: RunOptions): { cpus: number; memoryMib: number } {
  return {
    cpus: checkInteger("--cpus", options.cpus ?? DEFAULT_CPUS, 1, CPUS_MAX),
    memoryMib: checkInteger("--memory (MiB)", options.memoryMib ?? DEFAULT_MEMORY_MIB, MEMORY_MIN_MIB, MEMORY_MAX_MIB),
  };
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;

export function checkEnvEntry(entry: string): string {
  const eq = entry.indexOf("=");
  const name = eq < 0 ? entry : entry.slice(0, eq);
  if (eq < 0 || !ENV_NAME.test(name) || entry.includes("\0")) {
    throw new BoxliteError("invalid_argument", `invalid environment entry ${JSON.stringify(entry)}; use KEY=VALUE with a name of letters, digits and _`);
  }
  return entry;
}

/** Later entries override earlier ones with the same name, keeping first-seen order. */
function mergeEnv(...lists: string[][]): string[] {
  const merged = new Map<string, string>();
  for (const entry of lists.flat()) merged.set(entry.slice(0, entry.indexOf("=")), entry);
  return [...merged.values()];
}

const USER_SPEC = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/;

export function processSpec(options: RunOptions, image: ImageConfig, hostname: string): ProcessSpec {
  // Docker: a new entrypoint drops the image's CMD too; a command replaces only CMD.
  const entrypoint = options.entrypoint ?? image.entrypoint;
  const cmd = options.command && options.command.length > 0 ? options.command : options.entrypoint ? [] : image.cmd;
  const argv = [...entrypoint, ...cmd];
  if (argv.length === 0) throw new BoxliteError("invalid_argument", "no command to run: the image has no CMD or ENTRYPOINT; give one after --");
  const user = options.user ?? image.user;
  if (user !== "" && !USER_SPEC.test(user)) {
    throw new BoxliteError("invalid_argument", `invalid user ${JSON.stringify(user)}; use NAME, UID, NAME:GROUP or UID:GID`);
  }
  const workdir = options.workdir ?? (image.workingDir || "/");
  if (!workdir.startsWith("/")) throw new BoxliteError("invalid_argument", `working directory ${JSON.stringify(workdir)} must be an absolute path`);
  const defaults = [`HOSTNAME=${hostname}`, ...(options.tty ? ["TERM=xterm"] : [])];
  const env = mergeEnv(defaults, image.env, (options.env ?? []).map(checkEnvEntry));
  return { argv, env, cwd: workdir, user };
}
