/**
 * A box's volumes (`-v`, REST `volumes`): host paths shared into the box, and anonymous
 * volumes that create.ts turns into host directories under the home. The checks run once,
 * before anything is made; see docs/volumes.md "Options and records".
 */
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute, posix, resolve } from "node:path";
import { BoxliteError, type ErrorCode } from "../util/errors.ts";

/** A host file or directory at `guestPath` in the box. */
export interface HostVolume {
  /** Absolute. */
  hostPath: string;
  guestPath: string;
  readOnly: boolean;
  /** Ours: a directory create.ts made under `<home>/volumes/anonymous/` (the reference ignores the field). */
  anonymous?: true;
  /** Ours: the id of the named volume whose `data/` hostPath is (volumes in use are found by it). */
  volume?: string;
}

/** `-v NAME:BOX`: a named volume (`boxlite volume create`), by name or id; create.ts makes it a host path. */
export interface NamedVolume {
  volume: string;
  guestPath: string;
  readOnly: boolean;
}

/** `-v BOX`: a fresh host directory, made when the box is created. */
export interface AnonymousVolume {
  anonymous: true;
  guestPath: string;
  readOnly: boolean;
}

export type VolumeMount = HostVolume | AnonymousVolume | NamedVolume;

export function isHostVolume(volume: VolumeMount): volume is HostVolume {
  return "hostPath" in volume;
}

export function isNamedVolume(volume: VolumeMount): volume is NamedVolume {
  return "volume" in volume && !("hostPath" in volume);
}

const USAGE = "use -v HOST:BOX[:ro|rw], -v NAME:BOX[:ro|rw] or -v BOX[:ro|rw]";

/**
 * `-v HOST:BOX[:ro|rw]`, `-v NAME:BOX[:ro|rw]` or `-v BOX[:ro|rw]`. As docker: a first part
 * without '/' (and not `.` or `..`) names a volume; a host path has one (`./src`, not
 * `src`). A relative HOST is made absolute against `cwd`; `~` is not expanded (the shell
 * does that, as with docker).
 */
export function parseVolumeSpec(spec: string, cwd: string = process.cwd()): VolumeMount {
  const bad = (why: string) => new BoxliteError("usage", `-v ${JSON.stringify(spec)}: ${why}; ${USAGE}`);
  const parts = spec.split(":");
  if (parts.length > 3) throw bad("too many parts (a path with ':' cannot be given)");
  if (parts.some((part) => part === "")) throw bad("an empty part");
  let readOnly = false;
  const last = parts[parts.length - 1] ?? "";
  // BOX:MODE and HOST:BOX both have two parts: the second is a mode only when it is ro or rw.
  if (parts.length === 3 || (parts.length === 2 && (last === "ro" || last === "rw"))) {
    if (last !== "ro" && last !== "rw") throw bad(`unknown mode ${JSON.stringify(last)} (ro or rw)`);
    readOnly = last === "ro";
    parts.pop();
  }
  if (parts.length === 1) return { anonymous: true, guestPath: parts[0] ?? "", readOnly };
  const [host = "", guestPath = ""] = parts;
  if (!host.includes("/") && host !== "." && host !== "..") return { volume: host, guestPath, readOnly };
  return { hostPath: isAbsolute(host) ? resolve(host) : resolve(cwd, host), guestPath, readOnly };
}

/** The `-v` spelling of a volume (parseVolumeSpec reads it back; an anonymous one made already is a host path). */
export function volumeSpecOf(volume: VolumeMount): string {
  const mode = volume.readOnly ? ":ro" : "";
  if (isHostVolume(volume)) return `${volume.hostPath}:${volume.guestPath}${mode}`;
  return isNamedVolume(volume) ? `${volume.volume}:${volume.guestPath}${mode}` : `${volume.guestPath}${mode}`;
}

/** Whether box path `a` is `b` or lies under it (or the other way round). */
function overlaps(a: string, b: string): boolean {
  const under = (inner: string, outer: string) => inner === outer || inner.startsWith(`${outer}/`);
  return under(a, b) || under(b, a);
}

/** Why a host path cannot be shared, or undefined when it can: it must exist, be a directory or a regular file, and be readable. */
function hostPathProblem(path: string): string | undefined {
  if (!isAbsolute(path)) return "is not an absolute path";
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    return "does not exist (it is not created for you; make it first)";
  }
  if (!stat.isDirectory() && !stat.isFile()) return "is neither a directory nor a regular file";
  try {
    accessSync(path, constants.R_OK | (stat.isDirectory() ? constants.X_OK : 0));
  } catch {
    return "cannot be read by this user";
  }
  return undefined;
}

/**
 * The volumes must make sense together: host paths that exist and can be read, absolute
 * box paths other than `/`, and no box path equal to or nested in another's. `code` is
 * "usage" from the CLI (exit 2) and "invalid_argument" from the API and the library (400).
 */
export function checkVolumes(volumes: VolumeMount[] | undefined, code: ErrorCode): void {
  const fail = (message: string) => new BoxliteError(code, message);
  const seen: string[] = [];
  for (const volume of volumes ?? []) {
    const box = volume.guestPath;
    if (typeof box !== "string" || !box.startsWith("/")) throw fail(`volume box path ${JSON.stringify(box)} must be an absolute path`);
    const normal = posix.normalize(box).replace(/\/+$/, "");
    if (normal === "") throw fail("a volume cannot be mounted at the box's root /; give a directory such as /data");
    if (box.split("/").includes("..")) throw fail(`volume box path ${JSON.stringify(box)} has '..'; give it without`);
    if (isHostVolume(volume)) {
      const problem = hostPathProblem(volume.hostPath);
      if (problem) throw fail(`volume host path ${JSON.stringify(volume.hostPath)} ${problem}`);
    }
    const other = seen.find((path) => overlaps(path, normal));
    if (other !== undefined) throw fail(`volumes at ${other} and ${normal} overlap; give each volume its own box path, neither inside the other`);
    seen.push(normal);
  }
}
