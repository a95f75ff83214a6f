/**
 * `exec` over REST: POST …/exec starts the command, then its attach WebSocket (attach.ts
 * has the framing) carries stdin, signals, resizes and output. RemoteExecution is shaped
 * like the local GuestExecution, so the CLI attaches either the same way; once the socket
 * closes the execution's status says what the exit frame does not (an exec error such as
 * "not found", a timeout).
 */
import type { ExecHandlers, ExitStatus } from "../guest-protocol/execution.ts";
import type { ExecSession, ExecutionHandle } from "../runtime/api.ts";
import type { ExecExit, ExecOptions } from "../runtime/exec.ts";
import { BoxliteError } from "../util/errors.ts";
import type { RestTransport } from "./client-http.ts";

const STDOUT = 1;
const STDERR = 2;
const SIGKILL = 9;
/** Stdin queued in the socket past this waits for it to drain. */
const STDIN_HIGH_WATER = 256 * 1024;

export interface ExecutionStatus {
  status: "running" | "completed" | "killed" | "timed_out";
  exit_code: number | null;
  duration_ms: number | null;
  error_message: string | null;
}

/** `KEY=VALUE` entries as the contract's env map. */
function envMap(entries: string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of entries) {
    const eq = entry.indexOf("=");
    if (eq <= 0) throw new BoxliteError("usage", `-e ${JSON.stringify(entry)} is not KEY=VALUE`);
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

export class RemoteExecution implements ExecutionHandle {
  readonly started = Promise.withResolvers<unknown>();
  readonly exit = Promise.withResolvers<ExitStatus>();
  readonly status = Promise.withResolvers<ExecExit>();
  private output: Promise<void> = Promise.resolve();
  private exitCode: number | undefined;
  private errorMessage: string | undefined;

  constructor(
    private readonly socket: WebSocket,
    private readonly handlers: ExecHandlers,
    private readonly kill: () => Promise<void>,
    private readonly readStatus: () => Promise<ExecutionStatus>,
  ) {
    this.exit.promise.catch(() => {});
    this.status.promise.catch(() => {});
    socket.binaryType = "arraybuffer";
    socket.addEventListener("message", (event) => this.onMessage(event.data));
    socket.addEventListener("close", () => void this.onClose());
  }

  async writeStdin(bytes: Uint8Array): Promise<void> {
    if (this.socket.readyState !== WebSocket.OPEN) throw new BoxliteError("conflict", "the command's stdin is closed");
    this.socket.send(bytes);
    while (this.socket.readyState === WebSocket.OPEN && this.socket.bufferedAmount > STDIN_HIGH_WATER) await Bun.sleep(5);
  }

  closeStdin(): void {
    this.sendControl({ type: "stdin_eof" });
  }

  signal(signal: number): void {
    // The server takes SIGKILL as DELETE of the execution (it answers the rest over the socket).
    if (signal === SIGKILL) void this.kill().catch(() => {});
    else this.sendControl({ type: "signal", sig: signal });
  }

  resize(rows: number, cols: number): void {
    this.sendControl({ type: "resize", rows, cols });
  }

  private sendControl(frame: object): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.send(JSON.stringify(frame));
  }

  private onMessage(data: unknown): void {
    if (typeof data === "string") {
      const frame = JSON.parse(data) as { type?: string; exit_code?: number; message?: string };
      if (frame.type === "exit" && typeof frame.exit_code === "number") this.exitCode = frame.exit_code;
      if (frame.type === "error") this.errorMessage = frame.message;
      return;
    }
    if (!(data instanceof ArrayBuffer) || data.byteLength === 0) return;
    const bytes = new Uint8Array(data);
    const chunk = bytes.subarray(1);
    const handler = bytes[0] === STDERR ? this.handlers.onStderr : bytes[0] === STDOUT ? this.handlers.onStdout : undefined;
    if (handler) this.output = this.output.then(() => handler(chunk));
  }

  private async onClose(): Promise<void> {
    await this.output.catch(() => {});
    if (this.exitCode === undefined) {
      const error = new BoxliteError("protocol", `the execution's connection closed without an exit${this.errorMessage ? `: ${this.errorMessage}` : ""}`);
      this.exit.reject(error);
      this.status.reject(error);
      return;
    }
    const info = await this.readStatus().catch(() => undefined);
    const status: ExitStatus = { code: this.exitCode, signal: this.exitCode > 128 ? this.exitCode - 128 : 0, durationUs: (info?.duration_ms ?? 0) * 1000 };
    if (info?.error_message) status.error = info.error_message;
    this.exit.resolve(status);
    this.status.resolve({ ...status, timedOut: info?.status === "timed_out" });
  }
}

export function openSocket(url: string, headers: Record<string, string>): Promise<WebSocket> {
  // Bun's WebSocket takes headers (the bearer key); the browser's would not.
  const socket = new WebSocket(url, { headers } as unknown as string[]);
  return new Promise((resolve, reject) => {
    socket.addEventListener("open", () => resolve(socket), { once: true });
    socket.addEventListener("error", () => reject(new BoxliteError("protocol", `could not attach at ${url}`)), { once: true });
  });
}

/** Starts `options.command` in box `boxId` through the server and attaches to it (unless detached). */
export async function execRemote(http: RestTransport, boxId: string, options: ExecOptions, handlers: ExecHandlers): Promise<ExecSession> {
  const [command, ...args] = options.command;
  if (command === undefined) throw new BoxliteError("usage", "exec needs a command after the box; see 'boxlite exec --help'");
  if (options.user !== undefined)
    throw new BoxliteError("unsupported", "exec -u is not supported against a server (its exec request has no user); run the command through su or drop -u");
  const request: Record<string, unknown> = { command, args, tty: options.tty !== undefined };
  if (options.env && options.env.length > 0) request.env = envMap(options.env);
  if (options.workdir !== undefined) request.working_dir = options.workdir;
  if (options.timeoutMs !== undefined) request.timeout_seconds = options.timeoutMs / 1000;
  const { execution_id: executionId } = await http.json<{ execution_id: string }>("POST", `/boxes/${encodeURIComponent(boxId)}/exec`, { json: request });
  const path = `/boxes/${encodeURIComponent(boxId)}/executions/${encodeURIComponent(executionId)}`;
  const kill = async () => void (await http.request("DELETE", path));
  const readStatus = () => http.json<ExecutionStatus>("GET", path);
  if (options.detach) {
    // Nothing attaches: the command runs under the server (whose reaper ends it once nobody attached for its grace).
    const started = { promise: Promise.resolve() };
    const never = new Promise<never>(() => {});
    const execution: ExecutionHandle = {
      started,
      exit: { promise: never },
      writeStdin: async () => {},
      closeStdin: () => {},
      signal: () => {},
      resize: () => {},
    };
    return { execution, done: never, close: () => {} };
  }
  const socket = await openSocket(http.url(`${path}/attach`, {}, "ws"), http.authHeaders());
  const execution = new RemoteExecution(socket, handlers, kill, readStatus);
  execution.started.resolve(executionId);
  // The server keeps stdin open for an attached client; without -i there is none to forward.
  if (!options.stdin) execution.closeStdin();
  if (options.tty) execution.resize(options.tty.rows, options.tty.cols);
  const done = execution.status.promise.finally(() => socket.close());
  return { execution, done, close: () => socket.close() };
}
