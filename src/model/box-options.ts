/**
 * A box's options: the one typed definition every outer form maps to and from (CLI flags,
 * the REST create request, the library call, the stored BoxConfig; see fields.ts), the
 * limits the reference sets, and the checks a new box's options pass once.
 */
import { BoxliteError } from "../util/errors.ts";
import { type CapabilityPolicy, checkCapabilities } from "./capabilities.ts";
import type { SecurityMode } from "../vmm/jail/host.ts";
import { checkNetworkOptions, type PortMapping } from "./network.ts";
import { checkVolumes, type VolumeMount } from "./volumes.ts";

export const DEFAULT_CPUS = 1;
export const DEFAULT_MEMORY_MIB = 512;
export const CPUS_MAX = 255;
export const MEMORY_MIN_MIB = 128;
export const MEMORY_MAX_MIB = 65536;
/** A box's disk in GiB (`--disk-size`, `disk_size_gb`): sparse, so the cap guards against typos, not host space. */
export const DISK_SIZE_MIN_GB = 1;
export const DISK_SIZE_MAX_GB = 2048;

export type NetworkMode = "enabled" | "disabled";

/** Outbound networking: on (optionally restricted to `allowNet`), or no network card at all. */
export interface NetworkOptions {
  mode: NetworkMode;
  /** Exact hosts, `*.example.com`, IPs or CIDRs the box may reach; empty: anywhere. */
  allowNet: string[];
}

/** What a box is made with. Every field is optional: left out, it takes its default. */
export interface BoxOptions {
  /** Image reference, `oci:PATH[:TAG]` or `docker-archive:PATH`; neither this nor rootfsPath: the embedded default image. */
  image?: string;
  /** An OCI layout directory or a docker archive instead of an image (`--rootfs`). */
  rootfsPath?: string;
  /** A unique name to find the box by, besides its id. */
  name?: string;
  cpus?: number;
  memoryMib?: number;
  /**
   * The box's disk in GiB: its overlay's virtual size is the larger of this and the image's
   * base, and the guest grows the filesystem to fill it. Left out: the image's base size.
   */
  diskSizeGb?: number;
  /** Over the image's environment. */
  env?: Record<string, string>;
  workingDir?: string;
  /** Replaces the image's ENTRYPOINT and drops its CMD (docker's `--entrypoint`); `[]` clears it. */
  entrypoint?: string[];
  /** Replaces the image's CMD; ENTRYPOINT is kept (docker semantics). */
  cmd?: string[];
  /** `name|uid[:group|gid]`, resolved in the box; default: the image's USER. */
  user?: string;
  /** The main command runs on a pseudo-terminal (sized by whoever attaches). */
  tty?: boolean;
  /** Removed (record, disk and logs) as soon as the box stops. */
  autoRemove?: boolean;
  /** Outlives the process that created it. False: it is stopped when that process goes. */
  detach?: boolean;
  network?: NetworkOptions;
  /** Box TCP ports published on the host (`-p`; the CLI and the library only: neither REST contract has them). */
  ports?: PortMapping[];
  /** Host paths shared into the box (`-v`, REST `volumes`); an anonymous one becomes a host path when the box is created. */
  volumes?: VolumeMount[];
  /** Linux capabilities to add to and drop from docker's default set for the box's commands (`--cap-add`, `--cap-drop`, REST `advanced.capabilities`). */
  capabilities?: CapabilityPolicy;
  /**
   * The jail around the box's VMM and its helpers (`--security`, docs/security.md): kept
   * with the box, so every start gets the same. Left out: the server's `--security`, else enabled.
   */
  security?: SecurityMode;
}

/** Docker's rule for names: a letter or digit, then letters, digits, _ . - (and at most 128 here, as ids). */
const BOX_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const USER_SPEC = /^[A-Za-z0-9_.][A-Za-z0-9_.-]*(:[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$/;

function invalid(message: string): BoxliteError {
  return new BoxliteError("invalid_argument", message);
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${name} ${value} is out of range; use a whole number from ${min} to ${max}`);
}

/** An environment variable's name and value, as `KEY=VALUE` would say them. */
export function checkEnvVar(name: string, value: string): void {
  if (!ENV_NAME.test(name) || name.includes("\0") || value.includes("\0")) {
    throw invalid(`invalid environment entry ${JSON.stringify(`${name}=${value}`)}; use KEY=VALUE with a name of letters, digits and _`);
  }
}

/** `KEY=VALUE` (the CLI's `-e`) as its name and value. */
export function splitEnvEntry(entry: string): [string, string] {
  const eq = entry.indexOf("=");
  if (eq < 0) throw invalid(`invalid environment entry ${JSON.stringify(entry)}; use KEY=VALUE with a name of letters, digits and _`);
  const pair: [string, string] = [entry.slice(0, eq), entry.slice(eq + 1)];
  checkEnvVar(...pair);
  return pair;
}

/**
 * An environment from name/value pairs: a later pair overrides an earlier one of the same
 * name and keeps its place. Built with Object.fromEntries, so a name such as `__proto__`
 * is an own property like any other.
 */
export function envFromPairs(pairs: Iterable<readonly [string, string]>): Record<string, string> {
  return Object.fromEntries(new Map(pairs));
}

export function checkUser(user: string): void {
  if (user !== "" && !USER_SPEC.test(user)) throw invalid(`invalid user ${JSON.stringify(user)}; use NAME, UID, NAME:GROUP or UID:GID`);
}

export function checkWorkingDir(dir: string): void {
  if (!dir.startsWith("/")) throw invalid(`working directory ${JSON.stringify(dir)} must be an absolute path`);
}

/**
 * Checks what a new box is asked for, all at once before anything is made: the first
 * problem is the error, naming the option and what to do.
 */
export function checkBoxOptions(options: BoxOptions): void {
  if (options.name !== undefined && !BOX_NAME.test(options.name)) {
    throw invalid(`invalid box name ${JSON.stringify(options.name)}; use a letter or digit, then letters, digits, _ . - (up to 128)`);
  }
  if (options.image !== undefined && options.rootfsPath !== undefined) throw invalid("give either an image or a rootfs path (--rootfs, rootfs_path), not both");
  if (options.cpus !== undefined) checkInteger("--cpus", options.cpus, 1, CPUS_MAX);
  if (options.memoryMib !== undefined) checkInteger("--memory (MiB)", options.memoryMib, MEMORY_MIN_MIB, MEMORY_MAX_MIB);
  if (options.diskSizeGb !== undefined) checkInteger("--disk-size (GB)", options.diskSizeGb, DISK_SIZE_MIN_GB, DISK_SIZE_MAX_GB);
  for (const [name, value] of Object.entries(options.env ?? {})) checkEnvVar(name, value);
  if (options.workingDir !== undefined) checkWorkingDir(options.workingDir);
  if (options.user !== undefined) checkUser(options.user);
  checkNetworkOptions(options.network, options.ports, "invalid_argument");
  checkVolumes(options.volumes, "invalid_argument");
  checkCapabilities(options.capabilities);
}
