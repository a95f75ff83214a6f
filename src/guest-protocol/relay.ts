/**
 * The box socket: a box's owner (a foreground `run`, or its supervisor) serves the guest
 * channel to other processes over a unix socket speaking the guest protocol itself. Each
 * client's streams map onto streams of the one guest channel, output credit end to end (the
 * relay holds at most one window per stream). A client that disconnects takes its commands
 * with it (SIGKILL), except those started with `detach`, whose output is then discarded. The
 * owner's own frames (ATTACH, START, STOP, QUIESCE, PAUSE, SUSPEND_BOX…) never reach the guest.
 */
import type { Socket, UnixSocketListener } from "bun";
import type { GuestChannel } from "./client.ts";
import type { ExecHandlers, ExitStatus, GuestExecution } from "./execution.ts";
import {
  decodeWindow,
  encodeFrame,
  encodeWindowPayload,
  type Frame,
  FrameDecoder,
  FrameError,
  FrameType,
  INITIAL_WINDOW,
  MAX_STREAMS,
  PROTOCOL_VERSION,
} from "./frames.ts";
import type { MainSession } from "./main-session.ts";
import {
  encodeJson,
  parseAttach,
  parseExec,
  parseFilesIn,
  parseFilesOut,
  parseHello,
  parsePauseMessage,
  parseResize,
  parseSignal,
  parseStart,
  parseStopRequest,
  type StartedMessage,
} from "./messages.ts";
import { parseQuiesceRequest } from "./quiesce.ts";
import { type OwnerRequests, RelayHolds } from "./relay-holds.ts";
import { SocketWriter } from "./writer.ts";

export interface RelayOptions extends OwnerRequests {
  /** The guest channel the clients' commands run on. */
  channel: Pick<GuestChannel, "exec" | "filesOut" | "filesIn">;
  /** The box's main command, for ATTACH and START; without it ATTACH is refused. */
  main?: MainSession;
  /** Sent in HELLO so a client knows what it reached. */
  agent: string;
  /** A client sent STOP: it asks for the box to stop, with this grace period when given. */
  onStopRequest(timeoutMs: number | undefined): void;
  /** Refuses new commands with this code and reason (the box is stopping, or paused); undefined to accept. */
  refuseExec?(): { code: "stopping" | "paused"; message: string } | undefined;
}

const SIGKILL = 9;
/** How long closing waits for what was written to clients (a main command's EXIT) to go out. */
const CLOSE_FLUSH_MS = 2_000;

/** Output credit of one client stream: bytes the client may still be sent (its window). */
interface Credit {
  bytes: number;
  wake: Array<() => void>;
}

/** What a client stream drives: a command in the guest, or the attached main command. */
interface StreamTarget {
  readonly started: { promise: Promise<StartedMessage> };
  readonly exit: { promise: Promise<ExitStatus> };
  writeStdin(bytes: Uint8Array): Promise<void>;
  closeStdin(): void | Promise<void>;
  signal(signal: number): void;
  resize(rows: number, cols: number): void;
}

interface RelayedStream {
  target: StreamTarget;
  /** The target keeps its stdin in order itself (the main command's attachment). */
  ordersStdin: boolean;
  /** What the client's disconnect does to it: kill it, or let it run on unheard. */
  onDisconnect(): void;
  credit: Credit;
  stdinChain: Promise<void>;
  done: boolean;
}

class RelayClient {
  private readonly decoder = new FrameDecoder({ boxSocket: true });
  private readonly streams = new Map<number, RelayedStream>();
  /** Pauses this client holds (QUIESCE answered, RESUME not yet sent). */
  private readonly holds: RelayHolds;
  private readonly writer: SocketWriter;
  private greeted = false;
  private gone = false;

  constructor(
    private readonly socket: Socket<RelayClient>,
    private readonly options: RelayOptions,
    /** The server's detached commands still running, whichever client started them. */
    private readonly detached: Set<GuestExecution>,
  ) {
    this.writer = new SocketWriter(socket as Socket<unknown>);
    this.holds = new RelayHolds(
      options,
      (type, stream, payload) => this.send(type, stream, encodeJson(payload)),
      () => this.gone,
    );
  }

  drain(): void {
    this.writer.flush();
  }

  /**
   * Ends the connection once what was written went out (bounded by `deadline`). Commands
   * still running get ERROR `stopping` with `reason` first: their client learns the box is
   * ending rather than that a channel closed.
   */
  async close(deadline: number, reason: string): Promise<void> {
    for (const [id, stream] of this.streams) {
      if (stream.done) continue;
      this.finish(stream, id, FrameType.ERROR, { code: "stopping", message: reason });
    }
    while (!this.gone && this.writer.pending > 0 && performance.now() < deadline) await this.writer.whenDrained(deadline - performance.now());
    this.socket.end();
    this.disconnected();
  }

  receive(bytes: Uint8Array): void {
    if (this.gone) return;
    try {
      for (const frame of this.decoder.push(bytes)) this.dispatch(frame);
    } catch (error) {
      const reason = error instanceof FrameError ? error.message : String(error);
      this.send(FrameType.ERROR, 0, encodeJson({ code: "malformed", message: reason }));
      this.socket.end();
      this.disconnected();
    }
  }

  /** The client went away: its attached commands die with it, detached ones run on unheard. */
  disconnected(): void {
    if (this.gone) return;
    this.gone = true;
    // A client that paused the box and went must not leave it paused.
    this.holds.releaseAll();
    for (const stream of this.streams.values()) {
      stream.onDisconnect();
      // Output waiting for this client's credit is dropped, so the stream can end.
      for (const wake of stream.credit.wake.splice(0)) wake();
    }
  }

  private send(type: FrameType, stream: number, payload?: Uint8Array): void {
    if (!this.gone) this.writer.write(encodeFrame(type, stream, payload));
  }

  private dispatch(frame: Frame): void {
    if (frame.type === FrameType.HELLO) {
      if (parseHello(frame.payload).version !== PROTOCOL_VERSION) {
        this.send(FrameType.ERROR, 0, encodeJson({ code: "version", message: `this box speaks protocol ${PROTOCOL_VERSION}` }));
        return;
      }
      this.greeted = true;
      this.send(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION, agent: this.options.agent }));
      return;
    }
    if (!this.greeted) throw new FrameError("bad_payload", "the first frame must be HELLO");
    if (frame.type === FrameType.STOP) {
      this.options.onStopRequest(parseStopRequest(frame.payload));
      return;
    }
    // Only the owner powers the guest off, after stopping the main command: a client asks with STOP.
    if (frame.type === FrameType.SHUTDOWN) throw new FrameError("bad_type", "a client may not send SHUTDOWN; ask the owner to stop the box with STOP");
    if (frame.type === FrameType.QUIESCE) {
      if (this.streams.has(frame.stream)) throw new FrameError("bad_stream", `stream ${frame.stream} is in use`);
      this.holds.quiesce(frame.stream, parseQuiesceRequest(frame.payload));
      return;
    }
    if (frame.type === FrameType.RESUME) {
      this.holds.resume(frame.stream);
      return;
    }
    if (frame.type === FrameType.PAUSE || frame.type === FrameType.UNPAUSE || frame.type === FrameType.SUSPEND_BOX) {
      if (this.streams.has(frame.stream)) throw new FrameError("bad_stream", `stream ${frame.stream} is in use`);
      parsePauseMessage(frame.payload, frame.type === FrameType.PAUSE ? "PAUSE" : frame.type === FrameType.UNPAUSE ? "UNPAUSE" : "SUSPEND_BOX");
      this.holds.pause(frame.type, frame.stream);
      return;
    }
    if (frame.type === FrameType.START) {
      parseStart(frame.payload);
      this.options.main?.start();
      return;
    }
    if (frame.type === FrameType.ATTACH) {
      parseAttach(frame.payload);
      this.attach(frame.stream);
      return;
    }
    if (frame.type === FrameType.EXEC) {
      const { detach, ...request } = parseExec(frame.payload);
      this.open(frame.stream, detach === true, (handlers) => this.options.channel.exec(request, handlers));
      return;
    }
    if (frame.type === FrameType.FILES_OUT) {
      const request = parseFilesOut(frame.payload);
      this.open(frame.stream, false, (handlers) => this.options.channel.filesOut(request, handlers));
      return;
    }
    if (frame.type === FrameType.FILES_IN) {
      const request = parseFilesIn(frame.payload);
      this.open(frame.stream, false, () => this.options.channel.filesIn(request));
      return;
    }
    if (frame.type === FrameType.CONFIG) throw new FrameError("bad_type", "a client may not send CONFIG: only the box's owner configures the guest");
    const stream = this.streams.get(frame.stream);
    if (!stream || stream.done) return; // crossing the stream's end in flight
    switch (frame.type) {
      case FrameType.STDIN: {
        const bytes = frame.payload;
        const hand = () => (bytes.length === 0 ? stream.target.closeStdin() : stream.target.writeStdin(bytes));
        // The main command orders its stdin itself (queued until it starts): it is handed over
        // now, so that a START later on this connection finds it there.
        const handed = stream.ordersStdin ? hand() : undefined;
        // In order, and the client's credit comes back only once the guest took the bytes.
        stream.stdinChain = stream.stdinChain.then(async () => {
          await (stream.ordersStdin ? handed : hand());
          if (bytes.length > 0) this.send(FrameType.WINDOW, frame.stream, encodeWindowPayload(bytes.length));
        });
        return;
      }
      case FrameType.WINDOW:
        stream.credit.bytes += decodeWindow(frame.payload);
        for (const wake of stream.credit.wake.splice(0)) wake();
        return;
      case FrameType.SIGNAL:
        stream.target.signal(parseSignal(frame.payload));
        return;
      case FrameType.RESIZE: {
        const size = parseResize(frame.payload);
        stream.target.resize(size.rows, size.cols);
        return;
      }
      default:
        throw new FrameError("bad_type", `a client may not send frame type 0x${frame.type.toString(16)}`);
    }
  }

  /** Opens a stream of the guest channel for the client's stream `id`. */
  private open(id: number, detached: boolean, start: (handlers: ExecHandlers) => GuestExecution): void {
    if (this.streams.has(id)) throw new FrameError("bad_stream", `stream ${id} is already open`);
    const refusal = this.options.refuseExec?.();
    if (refusal !== undefined || this.streams.size >= MAX_STREAMS) {
      this.send(FrameType.ERROR, id, encodeJson(refusal ?? { code: "limit", message: `at most ${MAX_STREAMS} commands at once` }));
      return;
    }
    const credit: Credit = { bytes: INITIAL_WINDOW, wake: [] };
    let execution: GuestExecution;
    try {
      execution = start(this.outputHandlers(id, credit));
    } catch (error) {
      this.send(FrameType.ERROR, id, encodeJson({ code: "refused", message: (error as Error).message }));
      return;
    }
    if (detached) this.keepDetached(execution);
    // Detached commands run on unheard; the others die with their client, as with the guest.
    this.relay(id, {
      target: execution,
      ordersStdin: false,
      onDisconnect: () => (detached ? undefined : execution.signal(SIGKILL)),
      credit,
      stdinChain: Promise.resolve(),
      done: false,
    });
  }

  /** Tracks a detached command until it ends: a suspend keeps it (docs/suspend.md). */
  private keepDetached(execution: GuestExecution): void {
    this.detached.add(execution);
    const forget = () => this.detached.delete(execution);
    execution.exit.promise.then(forget, forget);
  }

  /** Attaches the client's stream `id` to the main command: the ATTACH answer, then STARTED, output and EXIT. */
  private attach(id: number): void {
    if (this.streams.has(id)) throw new FrameError("bad_stream", `stream ${id} is already open`);
    const main = this.options.main;
    if (!main || this.streams.size >= MAX_STREAMS) {
      this.send(
        FrameType.ERROR,
        id,
        encodeJson(
          main
            ? { code: "limit", message: `at most ${MAX_STREAMS} streams at once` }
            : { code: "refused", message: "this box has no main command to attach to" },
        ),
      );
      return;
    }
    const credit: Credit = { bytes: INITIAL_WINDOW, wake: [] };
    let attachment: ReturnType<MainSession["attach"]>;
    try {
      attachment = main.attach(this.outputHandlers(id, credit));
    } catch (error) {
      this.send(FrameType.ERROR, id, encodeJson({ code: "already_attached", message: (error as Error).message }));
      return;
    }
    this.send(FrameType.ATTACH, id, encodeJson({ state: main.state, tty: main.tty }));
    this.relay(id, { target: attachment, ordersStdin: true, onDisconnect: () => attachment.detach(), credit, stdinChain: Promise.resolve(), done: false });
  }

  private outputHandlers(id: number, credit: Credit): ExecHandlers {
    const output = (type: FrameType) => (chunk: Uint8Array) => this.forward(credit, id, type, chunk);
    return { onStdout: output(FrameType.STDOUT), onStderr: output(FrameType.STDERR) };
  }

  /** Tracks a client stream and relays its STARTED and its end. */
  private relay(id: number, relayed: RelayedStream): void {
    this.streams.set(id, relayed);
    relayed.target.started.promise.then(
      (started) => this.send(FrameType.STARTED, id, encodeJson(started)),
      () => {},
    );
    relayed.target.exit.promise.then(
      (status) =>
        this.finish(relayed, id, FrameType.EXIT, {
          code: status.code,
          signal: status.signal,
          duration_us: status.durationUs,
          ...(status.error === undefined ? {} : { error: status.error }),
        }),
      (error: unknown) => this.finish(relayed, id, FrameType.ERROR, { code: "lost", message: (error as Error).message }),
    );
  }

  /** Hands output on within the client's credit; resolving is what lets the guest send more. */
  private async forward(credit: Credit, id: number, type: FrameType, chunk: Uint8Array): Promise<void> {
    while (!this.gone && credit.bytes < chunk.length) await new Promise<void>((resolve) => credit.wake.push(resolve));
    if (this.gone) return; // detached (or being killed): nobody listens
    credit.bytes -= chunk.length;
    this.send(type, id, chunk);
  }

  private finish(stream: RelayedStream, id: number, type: FrameType, message: object): void {
    stream.done = true;
    this.streams.delete(id);
    this.send(type, id, encodeJson(message));
  }
}

/** Serves `options.channel` on the unix socket `path` until closed. */
export class RelayServer {
  private readonly clients = new Set<RelayClient>();
  private readonly detached = new Set<GuestExecution>();
  private listener!: UnixSocketListener<RelayClient>;

  private constructor() {}

  static listen(path: string, options: RelayOptions): RelayServer {
    const server = new RelayServer();
    const gone = (socket: Socket<RelayClient>) => {
      socket.data.disconnected();
      server.clients.delete(socket.data);
    };
    server.listener = Bun.listen<RelayClient>({
      unix: path,
      socket: {
        open: (socket) => {
          socket.data = new RelayClient(socket, options, server.detached);
          server.clients.add(socket.data);
        },
        data: (socket, bytes) => socket.data.receive(bytes),
        drain: (socket) => socket.data.drain(),
        close: gone,
        error: gone,
      },
    });
    return server;
  }

  /** The guest streams of the commands started with `detach` that still run. */
  detachedStreams = (): number[] => [...this.detached].map((execution) => execution.stream);

  /**
   * Stops listening and ends every connection once what was written to it went out (so
   * an attached client gets the main command's EXIT), within a bound; commands still
   * running end with ERROR `stopping` and `reason`. The owner closes when the main
   * command's exit settles, which is also when the relay queues that EXIT: one turn of the
   * event loop first lets every reaction to it run.
   */
  async close(reason = "the box is stopping"): Promise<void> {
    this.listener.stop(false);
    await Bun.sleep(0);
    const deadline = performance.now() + CLOSE_FLUSH_MS;
    await Promise.all([...this.clients].map((client) => client.close(deadline, reason)));
    this.clients.clear();
  }
}
