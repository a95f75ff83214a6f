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

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeJson(value: object): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

type Shape = Record<string, "number" | "string" | "string?">;

function parseObject(payload: Uint8Array, what: string, shape: Shape): Record<string, unknown> {
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
