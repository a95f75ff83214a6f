/**
 * Control payloads of the guest protocol (docs/guest-protocol.md): what the host sends,
 * and checked parsers for what the guest sends. A payload that fails a check is
 * malformed, which is fatal to the channel.
 */
import { FrameError } from "./frames.ts";

export interface ExecRequest {
  argv: string[];
  env: string[];
  cwd: string;
  create_cwd: boolean;
  user: string;
  tty: { rows: number; cols: number } | null;
  stdin: boolean;
  /**
   * Relay only (docs/guest-protocol.md, "The box socket"): keep the command running when
   * this client disconnects; its output is then discarded. The guest ignores the field.
   */
  detach?: boolean;
}

/** FILES_OUT: a tar of `path` in the box (docs/guest-protocol.md, "Copying files"). */
export interface FilesOutRequest {
  path: string;
  follow_symlinks: boolean;
  include_parent: boolean;
}

/** FILES_IN: extract the tar sent as stdin at `path` in the box. */
export interface FilesInRequest {
  path: string;
  contents: boolean;
  no_overwrite: boolean;
  /** A tar of one top-level non-directory becomes `path` unless it is a directory; any other is extracted into it (as `contents`). */
  as_file?: boolean;
}

/**
 * CONFIG: the box's settings, sent by its owner once after HELLO (docs/guest-protocol.md,
 * "Configuration"). The agent boots without them, so an idle booted guest is no box's yet.
 */
export interface GuestConfig {
  /** 1–64 bytes; with a network, a DNS name (it goes in the box's /etc/hosts). */
  hostname: string;
  /** The block device (as the guest names it) holding the box's ext4 rootfs. */
  rootfs: { device: string };
  /** The box's NIC; absent: the guest configures none and leaves /etc/resolv.conf and /etc/hosts alone. */
  network?: GuestNetwork;
  /** The box's volumes, mounted in this order; absent or empty: none. */
  mounts?: GuestMount[];
  /** Capabilities to add to and drop from docker's default set for the box's commands (names, `ALL`); absent: the default set. */
  capabilities?: { add: string[]; drop: string[] };
}

/**
 * One of CONFIG's `mounts`: a virtio-fs share the guest mounts at `path` in the container
 * (docs/volumes.md). The guest refuses values that break these rules with `config_failed`.
 */
export interface GuestMount {
  /** The share's virtio-fs tag: 1–36 of [A-Za-z0-9_.-]. */
  tag: string;
  /** The volume's directory in the share when one share holds several (QEMU's fsd); tag and subdir are unique in the box. */
  subdir?: string;
  /** Absolute in the container, not `/`, no empty, `.` or `..` part; no two overlap. */
  path: string;
  read_only: boolean;
  /** A single-file share: the file's name in it, bound at `path`; absent for a directory. */
  file?: string;
  /** The shared file's or directory's owner on the host. */
  host_uid: number;
  host_gid: number;
  /** The box's user (EXEC's `user` syntax; "" is root): when it is not the host owner the mount is idmapped so that it owns what the host owner owns. */
  user: string;
}

/**
 * CONFIG's `network`: one interface with a static IPv4 address and a default route, and the
 * box's /etc/resolv.conf and /etc/hosts. The guest refuses values that break these rules
 * with `config_failed` (docs/guest-protocol.md, "Configuration").
 */
export interface GuestNetwork {
  /** The guest kernel's name for the NIC, e.g. `eth0` (1–15 bytes). */
  interface: string;
  /** Dotted quad: a unicast host address of its subnet. */
  address: string;
  /** 1–32. */
  prefix: number;
  /** Dotted quad: another host address inside `address`/`prefix`; the default route goes through it. */
  gateway: string;
  /** 68–65535. */
  mtu: number;
  /** 1–3 dotted quads, written to /etc/resolv.conf in this order. */
  nameservers: string[];
  /** DNS names for resolv.conf's `search` line: at most 6, 247 bytes together with the spaces. */
  search?: string[];
}

export interface HelloMessage {
  version: number;
  agent: string;
}

export interface StartedMessage {
  pid: number;
}

export interface ExitMessage {
  code: number;
  signal: number;
  duration_us: number;
  error?: string;
}

export interface ErrorMessage {
  code: string;
  message: string;
}

/** Where a box's main command is (docs/guest-protocol.md "The box socket"). */
export type MainState = "held" | "running" | "exited";

/** The owner's answer to ATTACH: the client is attached to the main command. */
export interface AttachedMessage {
  state: MainState;
  /** The main command has (or will have) a pseudo-terminal: only STDOUT comes, RESIZE applies. */
  tty: boolean;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeJson(value: object): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

type Shape = Record<string, "number" | "string" | "string?">;

/** A control payload as a JSON object with the fields `shape` requires (malformed otherwise). */
export function parseObject(payload: Uint8Array, what: string, shape: Shape): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(payload));
  } catch {
    throw new FrameError("bad_payload", `${what} payload is not valid UTF-8 JSON`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new FrameError("bad_payload", `${what} payload is not a JSON object`);
  const record = value as Record<string, unknown>;
  for (const [key, kind] of Object.entries(shape)) {
    const field = record[key];
    if (kind === "string?" && field === undefined) continue;
    const want = kind === "string?" ? "string" : kind;
    if (typeof field !== want) throw new FrameError("bad_payload", `${what} payload needs ${key} as a ${want}`);
  }
  return record;
}

export function parseHello(payload: Uint8Array): HelloMessage {
  const r = parseObject(payload, "HELLO", { version: "number" });
  return { version: r.version as number, agent: typeof r.agent === "string" ? r.agent : "unknown" };
}

/** The guest's CONFIG answer: a JSON object, the configuration is applied. */
export function parseConfigAck(payload: Uint8Array): void {
  parseObject(payload, "CONFIG", {});
}

export function parseStarted(payload: Uint8Array): StartedMessage {
  return { pid: parseObject(payload, "STARTED", { pid: "number" }).pid as number };
}

export function parseExit(payload: Uint8Array): ExitMessage {
  const r = parseObject(payload, "EXIT", { code: "number", signal: "number", duration_us: "number", error: "string?" });
  const exit: ExitMessage = { code: r.code as number, signal: r.signal as number, duration_us: r.duration_us as number };
  if (typeof r.error === "string") exit.error = r.error;
  return exit;
}

export function parseError(payload: Uint8Array): ErrorMessage {
  const r = parseObject(payload, "ERROR", { code: "string", message: "string?" });
  return { code: r.code as string, message: typeof r.message === "string" ? r.message : "" };
}

const MAIN_STATES: ReadonlySet<string> = new Set(["held", "running", "exited"]);

/** The owner's ATTACH answer, as a client reads it. */
export function parseAttached(payload: Uint8Array): AttachedMessage {
  const r = parseObject(payload, "ATTACH", { state: "string" });
  if (!MAIN_STATES.has(r.state as string) || typeof r.tty !== "boolean")
    throw new FrameError("bad_payload", "ATTACH answer needs state (held, running or exited) and tty as a boolean");
  return { state: r.state as MainState, tty: r.tty };
}

/** A client's ATTACH: a JSON object (no fields yet; unknown ones are ignored). */
export function parseAttach(payload: Uint8Array): void {
  parseObject(payload, "ATTACH", {});
}

/** PAUSE, UNPAUSE and SUSPEND_BOX on the box socket, asked and answered alike: a JSON object (`{}`; unknown fields ignored). */
export function parsePauseMessage(payload: Uint8Array, what: "PAUSE" | "UNPAUSE" | "SUSPEND_BOX"): void {
  parseObject(payload, what, {});
}

/** START on the box socket: empty. */
export function parseStart(payload: Uint8Array): void {
  if (payload.length !== 0) throw new FrameError("bad_payload", "START takes no payload");
}

/** What the guest accepts in a string (docs/guest-protocol.md, "Strict JSON"): no NUL, no lone surrogate. */
const isCleanString = (value: unknown): value is string => typeof value === "string" && !value.includes("\0") && value.isWellFormed();
const isStrings = (value: unknown): value is string[] => Array.isArray(value) && value.every(isCleanString);
const isSize = (value: unknown): boolean => Number.isInteger(value) && (value as number) >= 0 && (value as number) <= 65535;

/** Parses a client's EXEC on the box socket (the relay checks shapes; the guest checks the rest). */
export function parseExec(payload: Uint8Array): ExecRequest {
  const r = parseObject(payload, "EXEC", { cwd: "string" });
  if (!isStrings(r.argv) || r.argv.length === 0) throw new FrameError("bad_payload", "EXEC payload needs argv as a non-empty array of strings");
  if (!isStrings(r.env)) throw new FrameError("bad_payload", "EXEC payload needs env as an array of strings");
  const tty = r.tty === undefined || r.tty === null ? null : (r.tty as Record<string, unknown>);
  if (tty !== null && (typeof tty !== "object" || !isSize(tty.rows) || !isSize(tty.cols)))
    throw new FrameError("bad_payload", "EXEC tty needs rows and cols from 0 to 65535");
  for (const key of ["create_cwd", "stdin", "detach"]) {
    if (r[key] !== undefined && typeof r[key] !== "boolean") throw new FrameError("bad_payload", `EXEC ${key} must be a boolean`);
  }
  if (r.user !== undefined && !isCleanString(r.user)) throw new FrameError("bad_payload", "EXEC user must be a string without NUL");
  if (!isCleanString(r.cwd)) throw new FrameError("bad_payload", "EXEC cwd must be a string without NUL");
  return {
    argv: r.argv,
    env: r.env,
    cwd: r.cwd as string,
    create_cwd: r.create_cwd === true,
    user: typeof r.user === "string" ? r.user : "",
    tty: tty === null ? null : { rows: tty.rows as number, cols: tty.cols as number },
    stdin: r.stdin === true,
    detach: r.detach === true,
  };
}

/** SIGNAL from a client: a Linux signal number, 1–64. */
export function parseSignal(payload: Uint8Array): number {
  const signal = parseObject(payload, "SIGNAL", { signal: "number" }).signal as number;
  if (!Number.isInteger(signal) || signal < 1 || signal > 64) throw new FrameError("bad_payload", "SIGNAL needs a signal number from 1 to 64");
  return signal;
}

/** RESIZE from a client: rows and cols, 1–65535 each. */
export function parseResize(payload: Uint8Array): { rows: number; cols: number } {
  const r = parseObject(payload, "RESIZE", { rows: "number", cols: "number" });
  const ok = (value: unknown) => Number.isInteger(value) && (value as number) >= 1 && (value as number) <= 65535;
  if (!ok(r.rows) || !ok(r.cols)) throw new FrameError("bad_payload", "RESIZE needs rows and cols from 1 to 65535");
  return { rows: r.rows as number, cols: r.cols as number };
}

/** STOP on the box socket: empty, or `{"timeout_ms":N}`, the stop's grace period. */
export function parseStopRequest(payload: Uint8Array): number | undefined {
  if (payload.length === 0) return undefined;
  const timeout = parseObject(payload, "STOP", { timeout_ms: "number" }).timeout_ms as number;
  if (!Number.isInteger(timeout) || timeout < 0) throw new FrameError("bad_payload", "STOP timeout_ms must be a whole number of milliseconds");
  return timeout;
}

function boxPath(r: Record<string, unknown>, what: string): string {
  if (!isCleanString(r.path) || !r.path.startsWith("/")) throw new FrameError("bad_payload", `${what} payload needs path as an absolute path without NUL`);
  return r.path;
}

function flag(r: Record<string, unknown>, what: string, key: string, fallback: boolean): boolean {
  if (r[key] === undefined) return fallback;
  if (typeof r[key] !== "boolean") throw new FrameError("bad_payload", `${what} ${key} must be a boolean`);
  return r[key] as boolean;
}

/** A client's FILES_OUT on the box socket. */
export function parseFilesOut(payload: Uint8Array): FilesOutRequest {
  const r = parseObject(payload, "FILES_OUT", {});
  return {
    path: boxPath(r, "FILES_OUT"),
    follow_symlinks: flag(r, "FILES_OUT", "follow_symlinks", false),
    include_parent: flag(r, "FILES_OUT", "include_parent", true),
  };
}

/** A client's FILES_IN on the box socket. */
export function parseFilesIn(payload: Uint8Array): FilesInRequest {
  const r = parseObject(payload, "FILES_IN", {});
  return {
    path: boxPath(r, "FILES_IN"),
    contents: flag(r, "FILES_IN", "contents", false),
    no_overwrite: flag(r, "FILES_IN", "no_overwrite", false),
    as_file: flag(r, "FILES_IN", "as_file", false),
  };
}
