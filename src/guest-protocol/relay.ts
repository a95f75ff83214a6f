/**
 * The box socket: the process that owns a box's guest channel (a foreground `run`, or the
 * detached box's supervisor) serves it to other processes — `exec`, `stop` — over a unix
 * socket speaking the guest protocol itself. Each client's streams are mapped onto
 * streams of the one guest channel; output credit is end to end (a client's WINDOW is
 * what lets the relay hand on more, and the guest is granted more as the relay does), so
 * the relay never holds more than one window per stream. A client that disconnects takes
 * its commands with it (SIGKILL), as with the guest, except those started with `detach`,
 * whose output is then discarded.
 */
import type { Socket, UnixSocketListener } from "bun";
import type { GuestChannel } from "./client.ts";
import type { ExecHandlers, GuestExecution } from "./execution.ts";
import { decodeWindow, encodeFrame, encodeWindowPayload, type Frame, FrameDecoder, FrameError, FrameType, INITIAL_WINDOW, MAX_STREAMS, PROTOCOL_VERSION } from "./frames.ts";
import { encodeJson, parseExec, parseFilesIn, parseFilesOut, parseHello, parseResize, parseSignal, parseStopRequest } from "./messages.ts";
import { SocketWriter } from "./writer.ts";

export interface RelayOptions {
  channel: GuestChannel;
  /** Sent in HELLO so a client knows what it reached. */
  agent: string;
  /** A client sent SHUTDOWN: it asks for the box to stop, with this grace period when given. */
  onStopRequest(timeoutMs: number | undefined): void;
  /** Refuses new commands with this reason (e.g. the box is stopping); undefined to accept. */
  refuseExec?(): string | undefined;
}

const SIGKILL = 9;

/** Output credit of one client stream: bytes the client may still be sent (its window). */
interface Credit {
  bytes: number;
  wake: Array<() => void>;
}

interface RelayedStream {
  execution: GuestExecution;
  detached: boolean;
  credit: Credit;
  stdinChain: Promise<void>;
  done: boolean;
}

class RelayClient {
  private readonly decoder = new FrameDecoder();
  private readonly streams = new Map<number, RelayedStream>();
  private readonly writer: SocketWriter;
  private greeted = false;
  private gone = false;

  constructor(
    private readonly socket: Socket<RelayClient>,
    private readonly options: RelayOptions,
  ) {
    this.writer = new SocketWriter(socket as Socket<unknown>);
  }

  drain(): void {
    this.writer.flush();
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
    for (const stream of this.streams.values()) {
      if (stream.detached) this.release(stream);
      else stream.execution.signal(SIGKILL);
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
    if (frame.type === FrameType.SHUTDOWN) {
      this.options.onStopRequest(parseStopRequest(frame.payload));
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
    const stream = this.streams.get(frame.stream);
    if (!stream || stream.done) return; // crossing the stream's end in flight
    switch (frame.type) {
      case FrameType.STDIN: {
        const bytes = frame.payload;
        // In order, and the client's credit comes back only once the guest took the bytes.
        stream.stdinChain = stream.stdinChain.then(async () => {
          if (bytes.length === 0) stream.execution.closeStdin();
          else await stream.execution.writeStdin(bytes);
          if (bytes.length > 0) this.send(FrameType.WINDOW, frame.stream, encodeWindowPayload(bytes.length));
        });
        return;
      }
      case FrameType.WINDOW:
        stream.credit.bytes += decodeWindow(frame.payload);
        for (const wake of stream.credit.wake.splice(0)) wake();
        return;
      case FrameType.SIGNAL:
        stream.execution.signal(parseSignal(frame.payload));
        return;
      case FrameType.RESIZE: {
        const size = parseResize(frame.payload);
        stream.execution.resize(size.rows, size.cols);
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
      this.send(FrameType.ERROR, id, encodeJson({ code: refusal === undefined ? "limit" : "refused", message: refusal ?? `at most ${MAX_STREAMS} commands at once` }));
      return;
    }
    const credit: Credit = { bytes: INITIAL_WINDOW, wake: [] };
    const output = (type: FrameType) => (chunk: Uint8Array) => this.forward(credit, id, type, chunk);
    let execution: GuestExecution;
    try {
      execution = start({ onStdout: output(FrameType.STDOUT), onStderr: output(FrameType.STDERR) });
    } catch (error) {
      this.send(FrameType.ERROR, id, encodeJson({ code: "refused", message: (error as Error).message }));
      return;
    }
    const relayed: RelayedStream = { execution, detached, credit, stdinChain: Promise.resolve(), done: false };
    this.streams.set(id, relayed);
    relayed.execution.started.promise.then((started) => this.send(FrameType.STARTED, id, encodeJson(started)), () => {});
    relayed.execution.exit.promise.then(
      (status) => this.finish(relayed, id, FrameType.EXIT, { code: status.code, signal: status.signal, duration_us: status.durationUs, ...(status.error === undefined ? {} : { error: status.error }) }),
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

  private release(stream: RelayedStream): void {
    for (const wake of stream.credit.wake.splice(0)) wake();
  }
}

/** Serves `options.channel` on the unix socket `path` until closed. */
export class RelayServer {
  private constructor(private readonly listener: UnixSocketListener<RelayClient>) {}

  static listen(path: string, options: RelayOptions): RelayServer {
    const listener = Bun.listen<RelayClient>({
      unix: path,
      socket: {
        open: (socket) => {
          socket.data = new RelayClient(socket, options);
        },
        data: (socket, bytes) => socket.data.receive(bytes),
        drain: (socket) => socket.data.drain(),
        close: (socket) => socket.data.disconnected(),
        error: (socket) => socket.data.disconnected(),
      },
    });
    return new RelayServer(listener);
  }

  close(): void {
    this.listener.stop(true);
  }
}
