/**
 * One execution the REST server started: its status, its output kept in a 256 KiB replay
 * backlog and fanned out to at most one attached client (the reference serve's
 * BacklogBroadcast), and the reaper's bookkeeping. The registry (executions.ts)
 * owns the map and the clock.
 */
import type { BoxExec, ExecExit } from "../runtime/exec.ts";
import { BoxliteError } from "../util/errors.ts";

/** The replay backlog: a client attaching late or again first gets this much of the latest output. */
export const BACKLOG_BYTES = 256 * 1024;
/** Output bytes queued on a client's socket before the command is held back (the guest waits for window). */
const CLIENT_HIGH_WATER = 1024 * 1024;
/** A client that takes nothing for this long is dropped (the reference's write timeout), so a command never waits forever. */
const WRITE_TIMEOUT_MS = 20_000;
const DRAIN_POLL_MS = 10;
/** Small chunks (a PTY's keystroke echoes) are merged in the backlog up to this size, so it stays a short list. */
const COALESCE_BYTES = 4096;

export const STDOUT = 0x01;
export const STDERR = 0x02;

export type ExecutionStatus = "running" | "completed" | "killed" | "timed_out";

/** The contract's ExecutionInfo. */
export interface ExecutionInfo {
  execution_id: string;
  status: ExecutionStatus;
  exit_code: number | null;
  started_at: string;
  duration_ms: number | null;
  error_message: string | null;
}

/** What an execution needs of an attached WebSocket. */
export interface ExecutionClient {
  send(data: string | Uint8Array<ArrayBuffer>): void;
  close(code: number, reason: string): void;
  /** Bytes queued on the socket and not written yet. */
  bufferedAmount(): number;
}

/** The reaper's steps for an execution nobody is attached to. */
export type ReapStage = "none" | "hup" | "term";

export class TrackedExecution {
  private status: ExecutionStatus = "running";
  private exitCode: number | null = null;
  private durationMs: number | null = null;
  private errorMessage: string | null = null;
  /** Set by DELETE and the reaper: the exit then reads `killed`. */
  killRequested = false;
  readonly startedAt = new Date();
  endedAt: number | undefined;
  /** Since when no client is attached (creation counts: an execution nobody attaches to is abandoned too). */
  detachedSince: number | undefined = Date.now();
  reapStage: ReapStage = "none";
  reapStageAt = 0;
  private exec: BoxExec | undefined;
  private readonly backlog: Uint8Array<ArrayBuffer>[] = [];
  private backlogBytes = 0;
  private client: ExecutionClient | undefined;
  /** An attach is between its upgrade and its open: the slot is taken. */
  private reserved = false;
  private stdinChain: Promise<void> = Promise.resolve();
  private readonly ended = Promise.withResolvers<void>();

  /** Runs a held main command (the main session's START); undefined for an exec. */
  private startMain: (() => void) | undefined;

  /**
   * `tty`: the command has a terminal (resize applies). `main`: the box's main session
   * (never reaped, as in the reference: killing it kills the box; its id is the box's).
   */
  constructor(
    readonly id: string,
    readonly boxId: string,
    public tty: boolean,
    readonly isMain = false,
  ) {}

  /** Hands the runtime's exec over once it started; its exit is watched from here on. `start` runs a held main command. */
  bind(exec: BoxExec, start?: () => void): void {
    this.exec = exec;
    this.startMain = start;
    exec.done.then(
      (exit) => this.finish(exit),
      (error: unknown) => this.finish(error instanceof Error ? error : new Error(String(error))),
    );
  }

  get isRunning(): boolean {
    return this.endedAt === undefined;
  }

  /** Settles once the exit was recorded and sent to the attached client. */
  get whenEnded(): Promise<void> {
    return this.ended.promise;
  }

  info(): ExecutionInfo {
    return {
      execution_id: this.id,
      status: this.status,
      exit_code: this.exitCode,
      started_at: this.startedAt.toISOString(),
      duration_ms: this.durationMs,
      error_message: this.errorMessage,
    };
  }

  /** Output from the command: kept in the backlog, and sent on when a client is attached. */
  output(channel: number, chunk: Uint8Array): void | Promise<void> {
    const frame = new Uint8Array(chunk.length + 1);
    frame[0] = channel;
    frame.set(chunk, 1);
    this.remember(frame);
    return this.deliver(frame);
  }

  /** Takes the single attach slot (409 when a client holds it or is about to). */
  reserve(): void {
    if (this.client || this.reserved) throw new BoxliteError("conflict", `execution ${this.id} already has a client attached; one client at a time`);
    this.reserved = true;
  }

  /** Frees a slot taken by `reserve` whose upgrade never came to open. */
  release(): void {
    this.reserved = false;
  }

  /**
   * The reserved client's socket opened: it gets the backlog, then live output. This runs
   * in one turn, and output is appended to the backlog and sent in one turn too, so the
   * client sees every byte once: nothing falls between the replay and the live data.
   */
  attach(client: ExecutionClient): void {
    this.reserved = false;
    for (const frame of this.backlog) client.send(frame);
    if (!this.isRunning) {
      this.sendEnd(client);
      return;
    }
    this.client = client;
    this.detachedSince = undefined;
    this.reapStage = "none";
  }

  /** The client went away (or was dropped): output is only kept in the backlog until one comes back. */
  detach(client: ExecutionClient): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.detachedSince = Date.now();
  }

  /** Whether a client holds the attach slot. */
  get isAttached(): boolean {
    return this.client !== undefined || this.reserved;
  }

  /** Stdin bytes taken from clients and not yet handed to the guest (it grants window as the command reads). */
  stdinPending = 0;

  /** Stdin bytes, in order (each write waits for the guest's window); settles once they were handed on. */
  writeStdin(bytes: Uint8Array): Promise<void> {
    const exec = this.requireExec();
    this.stdinPending += bytes.length;
    this.stdinChain = this.stdinChain
      .then(() => exec.execution.writeStdin(bytes))
      // A write can only fail once the command is gone; later writes must still settle.
      .catch(() => {})
      .finally(() => (this.stdinPending -= bytes.length));
    return this.stdinChain;
  }

  /** End-of-file on stdin, after every byte written before it. */
  closeStdin(): Promise<void> {
    const exec = this.requireExec();
    this.stdinChain = this.stdinChain.then(() => exec.execution.closeStdin()).catch(() => {});
    return this.stdinChain;
  }

  /** Starts the held main command this session is attached to (nothing happens once it started). */
  start(): void {
    this.startMain?.();
  }

  signal(signal: number): void {
    this.requireRunning("signal");
    this.requireExec().execution.signal(signal);
  }

  resize(rows: number, cols: number): void {
    this.requireRunning("resize");
    if (!this.tty) throw new BoxliteError("conflict", `execution ${this.id} has no terminal to resize; start it with "tty": true`);
    this.requireExec().execution.resize(rows, cols);
  }

  /** Ends the connection to the box: the box's owner kills the command (it was not detached); a main command runs on. */
  disconnect(): void {
    this.exec?.close();
  }

  /** The server is going away: the client hears 1001 (going away). */
  dropClient(code: number, reason: string): void {
    const client = this.client;
    if (!client) return;
    this.detach(client);
    client.close(code, reason);
  }

  private requireExec(): BoxExec {
    if (!this.exec) throw new BoxliteError("internal", `execution ${this.id} has not started`);
    return this.exec;
  }

  private requireRunning(what: string): void {
    if (!this.isRunning) throw new BoxliteError("conflict", `execution ${this.id} has finished (${this.status}); nothing to ${what}`);
  }

  private remember(frame: Uint8Array<ArrayBuffer>): void {
    const last = this.backlog.at(-1);
    if (last && last[0] === frame[0] && last.length + frame.length <= COALESCE_BYTES) {
      const merged = new Uint8Array(last.length + frame.length - 1);
      merged.set(last);
      merged.set(frame.subarray(1), last.length);
      this.backlog[this.backlog.length - 1] = merged;
    } else {
      this.backlog.push(frame);
    }
    this.backlogBytes += frame.length - 1;
    // Drop the oldest bytes: the newest 256 KiB are kept, whatever the chunking.
    while (this.backlogBytes > BACKLOG_BYTES) {
      const oldest = this.backlog[0] as Uint8Array<ArrayBuffer>;
      const excess = this.backlogBytes - BACKLOG_BYTES;
      if (oldest.length - 1 <= excess) {
        this.backlog.shift();
        this.backlogBytes -= oldest.length - 1;
        continue;
      }
      const trimmed = new Uint8Array(oldest.length - excess);
      trimmed[0] = oldest[0] as number;
      trimmed.set(oldest.subarray(1 + excess), 1);
      this.backlog[0] = trimmed;
      this.backlogBytes -= excess;
    }
  }

  private deliver(frame: Uint8Array<ArrayBuffer>): void | Promise<void> {
    const client = this.client;
    if (!client) return; // Nobody listening: the backlog has it, and the command runs on.
    client.send(frame);
    if (client.bufferedAmount() <= CLIENT_HIGH_WATER) return;
    return this.drain(client);
  }

  /** Holds the command (the guest gets no more window) until the client catches up, leaves, or times out. */
  private async drain(client: ExecutionClient): Promise<void> {
    const deadline = Date.now() + WRITE_TIMEOUT_MS;
    while (this.client === client && client.bufferedAmount() > CLIENT_HIGH_WATER / 2) {
      if (Date.now() > deadline) {
        this.detach(client);
        client.close(1011, "the client did not read its output for 20 s");
        return;
      }
      await Bun.sleep(DRAIN_POLL_MS);
    }
  }

  private finish(outcome: ExecExit | Error): void {
    this.endedAt = Date.now();
    if (outcome instanceof Error) {
      // The connection to the box broke (the box stopped, say): the command is gone with it.
      this.status = "killed";
      this.errorMessage = outcome.message;
    } else {
      this.status = this.killRequested ? "killed" : outcome.timedOut ? "timed_out" : "completed";
      this.exitCode = outcome.code;
      this.durationMs = Math.round(outcome.durationUs / 1000);
      this.errorMessage = outcome.error ?? null;
    }
    const client = this.client;
    if (client) {
      this.detach(client);
      this.sendEnd(client);
    }
    this.ended.resolve();
  }

  /** The exit frame then a normal close; without an exit code (a lost box), an error frame and 1011. */
  private sendEnd(client: ExecutionClient): void {
    if (this.exitCode === null) {
      client.send(JSON.stringify({ type: "error", message: this.errorMessage ?? "the execution ended without an exit code" }));
      client.close(1011, "the execution was lost");
      return;
    }
    client.send(JSON.stringify({ type: "exit", exit_code: this.exitCode }));
    client.close(1000, "exited");
  }
}
