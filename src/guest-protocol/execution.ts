/**
 * One command running in the guest, seen from the host: its stdin (bounded by the
 * guest's window), its output (the guest is granted more window as the handlers
 * consume it), signals, resize, and its exit.
 */
import { BoxliteError } from "../util/errors.ts";
import { encodeWindowPayload, FrameError, FrameType, INITIAL_WINDOW, MAX_DATA_CHUNK } from "./frames.ts";
import { type AttachedMessage, encodeJson, type ErrorMessage, type ExitMessage, type StartedMessage } from "./messages.ts";

export interface ExecHandlers {
  /** Receives stdout bytes; the returned promise is backpressure (more is granted when it settles). */
  onStdout(chunk: Uint8Array): void | Promise<void>;
  onStderr(chunk: Uint8Array): void | Promise<void>;
}

export interface ExitStatus {
  /** What a shell would report: the status, 128+N for signal N, 126/127 when exec failed. */
  code: number;
  signal: number;
  durationUs: number;
  error?: string;
}

/**
 * A running command as its client drives it: one in the guest (GuestExecution), a box's
 * main command (MainAttachment), or one behind a server (the REST client's attach WebSocket).
 */
export interface ExecutionHandle {
  /** Resolves once the command exists (a refusal rejects it). */
  readonly started: { promise: Promise<unknown> };
  readonly exit: { promise: Promise<ExitStatus> };
  writeStdin(bytes: Uint8Array): Promise<void>;
  closeStdin(): void;
  signal(signal: number): void;
  resize(rows: number, cols: number): void;
}

type SendFrame = (type: FrameType, payload?: Uint8Array) => void;

/** Grant output window back in batches, not one WINDOW frame per chunk. */
const GRANT_THRESHOLD = INITIAL_WINDOW / 4;

export class GuestExecution implements ExecutionHandle {
  private stdinWindow = INITIAL_WINDOW;
  private windowWaiters: Array<() => void> = [];
  private ungranted = 0;
  /** Output bytes the guest may still send: what it was granted and has not used. */
  private outputCredit = INITIAL_WINDOW;
  private outputChain: Promise<void> = Promise.resolve();
  private finished = false;
  /**
   * Whether `started` and `attached` are settled. Settling one again would be a no-op, but its
   * error would still be built, stack and all (~20 µs each under emulation, on every exec's
   * exit); and only an ATTACH gets an answer to settle `attached` with.
   */
  private startedSettled = false;
  private attachedSettled: boolean;
  readonly started = Promise.withResolvers<StartedMessage>();
  readonly exit = Promise.withResolvers<ExitStatus>();
  /** An ATTACH to a box's main command (box socket only): the owner's answer. Never settles for a command. */
  readonly attached = Promise.withResolvers<AttachedMessage>();

  constructor(
    readonly stream: number,
    private readonly handlers: ExecHandlers,
    private readonly sendFrame: SendFrame,
    options: { attach?: boolean } = {},
  ) {
    this.attachedSettled = options.attach !== true;
    // Callers that only await `exit` must not see an unhandled rejection from `started`.
    this.started.promise.catch(() => {});
    this.attached.promise.catch(() => {});
  }

  /** Sends stdin bytes, waiting for window as needed. */
  async writeStdin(bytes: Uint8Array): Promise<void> {
    let offset = 0;
    while (offset < bytes.length) {
      if (this.finished) return;
      if (this.stdinWindow === 0) {
        await new Promise<void>((resolve) => this.windowWaiters.push(resolve));
        continue;
      }
      const size = Math.min(bytes.length - offset, this.stdinWindow, MAX_DATA_CHUNK);
      this.stdinWindow -= size;
      this.sendFrame(FrameType.STDIN, bytes.subarray(offset, offset + size));
      offset += size;
    }
  }

  /** End-of-file on the command's stdin. */
  closeStdin(): void {
    if (!this.finished) this.sendFrame(FrameType.STDIN);
  }

  signal(signal: number): void {
    if (!this.finished) this.sendFrame(FrameType.SIGNAL, encodeJson({ signal }));
  }

  resize(rows: number, cols: number): void {
    if (!this.finished) this.sendFrame(FrameType.RESIZE, encodeJson({ rows, cols }));
  }

  onStarted(message: StartedMessage): void {
    this.startedSettled = true;
    this.started.resolve(message);
  }

  onAttached(message: AttachedMessage): void {
    this.attachedSettled = true;
    this.attached.resolve(message);
  }

  onWindow(increment: number): void {
    this.stdinWindow += increment;
    for (const wake of this.windowWaiters.splice(0)) wake();
  }

  /** Throws a FrameError when the guest sends past its window: a guest that did would fill this process's memory with what its handlers have not taken yet. */
  onOutput(type: FrameType, chunk: Uint8Array): void {
    this.outputCredit -= chunk.length;
    if (this.outputCredit < 0)
      throw new FrameError("bad_window", `the guest sent ${-this.outputCredit} bytes of output past its window on stream ${this.stream}`);
    const handler = type === FrameType.STDOUT ? this.handlers.onStdout : this.handlers.onStderr;
    // Chained so that output is delivered in order even when a handler is asynchronous.
    this.outputChain = this.outputChain.then(async () => {
      await handler(chunk);
      this.grant(chunk.length);
    });
  }

  onExit(message: ExitMessage): void {
    const status: ExitStatus = { code: message.code, signal: message.signal, durationUs: message.duration_us };
    if (message.error !== undefined) status.error = message.error;
    // No STARTED comes when no process could be created (an unknown user, say): settle it here.
    this.rejectUnsettled(
      () => new BoxliteError("invalid_argument", message.error ?? `the command exited with ${message.code} before it started`),
      () => new BoxliteError("protocol", "the command exited without an ATTACH answer"),
    );
    this.end();
    // EXIT follows all output: settle only once every chunk has been handed over.
    void this.outputChain.then(
      () => this.exit.resolve(status),
      (error: unknown) => this.exit.reject(error),
    );
  }

  onRefused(message: ErrorMessage): void {
    // A box socket's refusals: another client holds the main command, or the box is stopping or paused.
    const conflict = message.code === "already_attached" || message.code === "stopping" || message.code === "paused";
    const error = conflict
      ? new BoxliteError("conflict", message.message)
      : new BoxliteError("invalid_argument", `the guest refused the command: ${message.code}: ${message.message}`);
    this.onChannelLost(error);
  }

  onChannelLost(error: BoxliteError): void {
    this.end();
    this.rejectUnsettled(
      () => error,
      () => error,
    );
    void this.outputChain.finally(() => this.exit.reject(error));
  }

  private rejectUnsettled(notStarted: () => BoxliteError, notAttached: () => BoxliteError): void {
    if (!this.startedSettled) this.started.reject(notStarted());
    if (!this.attachedSettled) this.attached.reject(notAttached());
    this.startedSettled = this.attachedSettled = true;
  }

  private end(): void {
    this.finished = true;
    for (const wake of this.windowWaiters.splice(0)) wake();
  }

  private grant(bytes: number): void {
    if (this.finished) return;
    this.ungranted += bytes;
    if (this.ungranted < GRANT_THRESHOLD) return;
    this.sendFrame(FrameType.WINDOW, encodeWindowPayload(this.ungranted));
    this.outputCredit += this.ungranted;
    this.ungranted = 0;
  }
}
