/**
 * A box's main command as the process that owns the box serves it (docs/guest-protocol.md
 * "The box socket"): held until someone starts it (or started at once), its output always
 * to the owner's log and to at most one attached client, whose stdin, signals and window
 * size reach it. A client that goes away is detached, never killed with: a box lives as
 * long as its main command.
 */
import { BoxliteError } from "../util/errors.ts";
import type { ExecHandlers, ExecutionHandle, ExitStatus, GuestExecution } from "./execution.ts";
import type { MainState, StartedMessage } from "./messages.ts";

/** A terminal's size until its client says otherwise. */
export const DEFAULT_TTY_SIZE: Readonly<{ rows: number; cols: number }> = { rows: 24, cols: 80 };
/** What docker reports for a main command the stop's power-off killed. */
const KILLED_BY_STOP: ExitStatus = { code: 137, signal: 9, durationUs: 0 };

/** How the main command is started: the owner turns this into its EXEC. */
export interface MainIo {
  tty: { rows: number; cols: number } | null;
  stdin: boolean;
}

export interface MainSessionOptions {
  /** The box was created with a terminal: its main command gets a PTY. */
  tty: boolean;
  /** Starts the main command in the guest. */
  launch(io: MainIo, handlers: ExecHandlers): GuestExecution;
  /** Every output byte goes here as well, attached client or not (`logs/main.log`). */
  log?(chunk: Uint8Array): void;
  /**
   * Started with no client attached, the command's stdin is an open pipe nobody writes
   * (until a client attaches), not /dev/null: a shell as the main command then waits
   * instead of exiting at once, so the box stays up to be exec'd into.
   */
  holdStdin?: boolean;
}

/** Where an attached client's output goes; a returned promise holds the command back (credit). */
export interface MainClient {
  onStdout(chunk: Uint8Array): void | Promise<void>;
  onStderr(chunk: Uint8Array): void | Promise<void>;
}

/**
 * One client's hold on the main command, driven like every other execution. Before the command
 * starts, stdin is queued (dropped when it has none, or it was closed), a signal is
 * ignored (there is nothing to signal yet), and a resize sets the size its terminal will have.
 */
export interface MainAttachment extends ExecutionHandle {
  readonly started: { promise: Promise<StartedMessage> };
  /** The client went away: the command runs on, its stdin left open for the next client. */
  detach(): void;
}

interface Attached {
  client: MainClient;
  /** The client asked for stdin, wrote some before the start, or closed it before writing any. */
  stdin: boolean;
  wroteEarly: boolean;
  closedEarly: boolean;
  size: { rows: number; cols: number };
}

export class MainSession {
  private state_: MainState = "held";
  private execution: GuestExecution | undefined;
  private attached: Attached | undefined;
  /** The command's stdin: it had none, it is open, or it was closed. */
  private stdin: "none" | "open" | "closed" = "none";
  private stdinChain: Promise<void> = Promise.resolve();
  private stopping = false;
  private startedMessage: StartedMessage | undefined;
  private readonly launched = Promise.withResolvers<void>();
  readonly started = Promise.withResolvers<StartedMessage>();
  readonly exit = Promise.withResolvers<ExitStatus>();

  constructor(private readonly options: MainSessionOptions) {
    // Owners that only await `exit` must not see an unhandled rejection from `started`.
    this.started.promise.catch(() => {});
    this.exit.promise.catch(() => {});
  }

  get state(): MainState {
    return this.state_;
  }

  get tty(): boolean {
    return this.options.tty;
  }

  get isAttached(): boolean {
    return this.attached !== undefined;
  }

  /**
   * Attaches `client`: from now on it gets the command's output (a command that already
   * runs: from this moment on). One client at a time: a second is refused (`conflict`).
   * `stdin` false (a foreground `run` without -i) starts the command without stdin.
   */
  attach(client: MainClient, options: { stdin?: boolean } = {}): MainAttachment {
    // Once the command exited nobody holds it: its last client's stream ended with its EXIT.
    if (this.attached && this.state_ !== "exited") throw new BoxliteError("conflict", "another client is already attached to the box's main command");
    // Assigned below; the handle's methods only run later.
    let entry: Attached;
    const current = () => this.attached === entry;
    const handle: MainAttachment = {
      started: this.started,
      exit: this.exit,
      writeStdin: (bytes) => {
        if (!current()) return Promise.resolve();
        if (this.state_ === "held") entry.wroteEarly = true;
        return this.whenLaunched(() => (this.stdin === "open" ? this.execution?.writeStdin(bytes) : undefined));
      },
      closeStdin: () => {
        if (!current()) return;
        if (this.state_ === "held" && !entry.wroteEarly) entry.closedEarly = true;
        void this.closeStdin();
      },
      signal: (signal) => {
        if (current() && this.state_ === "running") this.execution?.signal(signal);
      },
      resize: (rows, cols) => {
        if (!current()) return;
        entry.size = { rows, cols };
        if (this.state_ === "running" && this.options.tty) this.execution?.resize(rows, cols);
      },
      detach: () => {
        // Stdin stays open: the box holds it while no client is attached (a closed terminal
        // would also read as ^D), so a disconnect never ends a shell.
        if (current()) this.attached = undefined;
      },
    };
    entry = { client, stdin: options.stdin ?? true, wroteEarly: false, closedEarly: false, size: { ...DEFAULT_TTY_SIZE } };
    // A command that has exited answers with its exit at once; nobody holds it.
    if (this.state_ !== "exited") this.attached = entry;
    return handle;
  }

  /** Starts a held command (idempotent: nothing happens once it started, exited or was aborted). */
  start(): void {
    if (this.state_ !== "held") return;
    this.state_ = "running";
    const client = this.attached;
    // A client that closed stdin before writing a byte asked for none: the command gets /dev/null, as `run` without -i.
    const stdin = client ? client.stdin && !client.closedEarly : this.options.holdStdin === true;
    this.stdin = stdin ? "open" : "none";
    const io: MainIo = { tty: this.options.tty ? { ...(client?.size ?? DEFAULT_TTY_SIZE) } : null, stdin };
    let execution: GuestExecution;
    try {
      execution = this.options.launch(io, { onStdout: this.output("onStdout"), onStderr: this.output("onStderr") });
    } catch (error) {
      this.end(error);
      return;
    }
    this.execution = execution;
    execution.started.promise.then(
      (started) => {
        this.startedMessage = started;
        this.started.resolve(started);
      },
      (error: unknown) => this.started.reject(error),
    );
    execution.exit.promise.then(
      (status) => {
        this.state_ = "exited";
        this.exit.resolve(status);
      },
      (error: unknown) => {
        this.state_ = "exited";
        // The stop powered the guest off under it: killed, as docker reports it.
        if (this.stopping) this.exit.resolve(KILLED_BY_STOP);
        else this.exit.reject(error);
      },
    );
    this.launched.resolve();
  }

  /** The running command's stream on the guest channel and its pid (what a suspend keeps), or undefined when it does not run. */
  guestStream(): { stream: number; pid: number } | undefined {
    if (this.state_ !== "running" || !this.execution || !this.startedMessage) return undefined;
    return { stream: this.execution.stream, pid: this.startedMessage.pid };
  }

  /** The owner's own signal (a stop's SIGTERM); ignored unless the command runs. */
  signal(signal: number): void {
    if (this.state_ === "running") this.execution?.signal(signal);
  }

  /** The owner is stopping the box: a command lost with the channel from now on was killed (137). */
  markStopping(): void {
    this.stopping = true;
  }

  /** The box ends before its command started: it never will; `started` and `exit` reject with `error`. */
  abort(error: unknown): void {
    if (this.state_ === "held") this.end(error);
  }

  private end(error: unknown): void {
    this.state_ = "exited";
    this.started.reject(error);
    this.exit.reject(error);
    this.launched.resolve();
  }

  /** After the start (or the abort), in order with every other stdin operation. */
  private whenLaunched(step: () => Promise<void> | undefined): Promise<void> {
    this.stdinChain = this.stdinChain
      .then(() => this.launched.promise)
      .then(step)
      // A write fails only once the command is gone; later ones must still settle.
      .catch(() => {});
    return this.stdinChain;
  }

  private closeStdin(): Promise<void> {
    return this.whenLaunched(() => {
      if (this.stdin !== "open") return undefined;
      this.stdin = "closed";
      this.execution?.closeStdin();
      return undefined;
    });
  }

  private output(pick: keyof MainClient): (chunk: Uint8Array) => Promise<void> {
    return async (chunk) => {
      this.options.log?.(chunk);
      const client = this.attached?.client;
      if (client) await client[pick](chunk);
    };
  }
}
