/**
 * The host end of the guest channel: connects to the agent's socket, does the HELLO
 * handshake (and, for the box's owner, CONFIG), and multiplexes executions over one byte
 * stream with per-stream flow control (docs/guest-protocol.md).
 */
import type { Socket } from "bun";
import { BoxliteError } from "../util/errors.ts";
import { GuestExecution, type ExecHandlers } from "./execution.ts";
import { decodeWindow, encodeFrame, FrameDecoder, FrameError, type Frame, FrameType, MAX_STREAMS, PROTOCOL_VERSION } from "./frames.ts";
import {
  encodeJson,
  type ExecRequest,
  type FilesInRequest,
  type FilesOutRequest,
  type GuestConfig,
  type HelloMessage,
  parseAttached,
  parseConfigAck,
  parseError,
  parseExit,
  parseHello,
  parsePauseMessage,
  parseStarted,
  type StartedMessage,
} from "./messages.ts";
import { parseDoneAnswer, parseQuiesced, type QuiesceRequest } from "./quiesce.ts";
import { channelError, GUEST_ANSWERS, GUEST_COULD_NOT, OWNER_ANSWERS, ownerRefusal, type SuspendRequest } from "./client-errors.ts";
import { encodeWake, type WakeRequest } from "./wake.ts";
import { SocketWriter } from "./writer.ts";
import { type ConnectOptions, connectWithRetry, type DialOptions, RECONNECT_PAUSE_MS } from "./client-connect.ts";

export class GuestChannel {
  // The box socket's ATTACH answer included: dispatch refuses it from the guest, like every frame the guest may not send.
  private readonly decoder = new FrameDecoder({ boxSocket: true });
  private readonly executions = new Map<number, GuestExecution>();
  private writer!: SocketWriter;
  private socket!: Socket<unknown>;
  private nextStream = 1;
  private hello = Promise.withResolvers<HelloMessage>();
  /** Set while a CONFIG waits for the guest's answer. */
  private configAck: PromiseWithResolvers<void> | undefined;
  /** FREEZE, THAW, WAKE or SUSPEND sent and not yet answered (one at a time: the owner serializes them). */
  private channelAck: { type: FrameType; answer: PromiseWithResolvers<void> } | undefined;
  /** QUIESCE, RESUME, PAUSE or UNPAUSE requests to the owner, by stream, waiting for their answer. */
  private readonly holds = new Map<number, PromiseWithResolvers<Uint8Array>>();
  private failure: BoxliteError | undefined;
  private readonly ended = Promise.withResolvers<void>();
  /** Settles once the connection is gone, however it went. */
  readonly closed = this.ended.promise;
  /** A dialed connection's deadline for HELLO's answer, and its reason to fail without one (dial); both cleared by the answer. */
  private helloTimer: Timer | undefined;
  private unanswered: (() => BoxliteError) | undefined;

  private constructor() {}

  /** The connection is gone: closed, broken, or refused by its peer. */
  get isClosed(): boolean {
    return this.failure !== undefined;
  }

  /**
   * Connects, shakes hands and sends `wake` and `config` if given, within `timeoutMs`. A
   * connection that closes before the guest's HELLO is tried again: a vsock bridge (libkrun)
   * accepts and then closes while the guest is not listening yet (QEMU's port just waits).
   */
  static async connect(path: string, options: ConnectOptions): Promise<{ channel: GuestChannel; hello: HelloMessage }> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new BoxliteError("guest_timeout", `the guest did not come up within ${Math.round(options.timeoutMs / 1000)} s`)),
        options.timeoutMs,
      );
    });
    const vmGone = options.vmExited.then(() => {
      throw new BoxliteError("vmm_failed", "the VM stopped before its guest agent answered");
    });
    let opened = options.opened;
    try {
      for (;;) {
        const attempt = await GuestChannel.open(path);
        // All follow HELLO at once: the guest reads frames in order and answers each, so no round
        // trip is waited per request (a restored VM's WAKE, which probes its disks, before CONFIG).
        const woken = options.wake ? attempt.channel.wake(options.wake) : undefined;
        const configured = options.config ? attempt.channel.configure(options.config) : undefined;
        for (const request of [woken, configured]) request?.catch(() => {});
        try {
          if (opened) await Promise.race([opened(), timeout, vmGone]);
          opened = undefined;
          const answer = await Promise.race([attempt.channel.hello.promise, attempt.closedEarly, timeout, vmGone]);
          if (answer !== "closed") {
            for (const request of [woken, configured]) if (request) await Promise.race([request, timeout, vmGone]);
            return { channel: attempt.channel, hello: answer };
          }
        } catch (error) {
          attempt.channel.close();
          throw error;
        }
        await Promise.race([Bun.sleep(RECONNECT_PAUSE_MS), timeout, vmGone]);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * A box socket's connection, usable at once: what is sent follows HELLO without waiting for
   * its answer (the owner reads frames in order), a round trip less per request. A refusal of
   * HELLO fails what runs over it, and so does no answer (closed first, or past `timeoutMs`).
   */
  static async dial(path: string, options: DialOptions): Promise<GuestChannel> {
    const { channel } = await GuestChannel.open(path, options.connectRetryMs);
    channel.hello.promise.catch(() => {});
    channel.unanswered = options.unanswered;
    channel.helloTimer = setTimeout(() => channel.close(options.unanswered()), options.timeoutMs);
    return channel;
  }

  /** One connection with HELLO sent; `closedEarly` settles if it closes before the guest's HELLO. */
  private static async open(path: string, connectRetryMs?: number): Promise<{ channel: GuestChannel; closedEarly: Promise<"closed"> }> {
    const channel = new GuestChannel();
    const closedEarly = Promise.withResolvers<"closed">();
    channel.socket = await connectWithRetry(path, connectRetryMs, {
      data: (_socket, bytes) => channel.receive(bytes),
      drain: () => channel.writer.flush(),
      close: () => {
        // Settled first, so a race sees "closed" rather than the HELLO's rejection.
        closedEarly.resolve("closed");
        channel.finish(undefined);
      },
      error: (_socket, error) => channel.finish(new BoxliteError("protocol", `guest channel failed: ${error.message}`)),
    });
    channel.writer = new SocketWriter(channel.socket);
    channel.send(FrameType.HELLO, 0, encodeJson({ version: PROTOCOL_VERSION }));
    return { channel, closedEarly: closedEarly.promise };
  }

  /** Sends CONFIG; settles with the guest's answer (an ERROR on stream 0 rejects, see channelError). */
  private configure(config: GuestConfig): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    this.configAck = Promise.withResolvers<void>();
    this.send(FrameType.CONFIG, 0, encodeJson(config));
    return this.configAck.promise;
  }

  /** Starts a command in the guest; its output goes to the handlers. */
  exec(request: ExecRequest, handlers: ExecHandlers): GuestExecution {
    return this.open(FrameType.EXEC, request, handlers);
  }

  /** Streams a tar of a path in the box to the handlers' stdout (docs/guest-protocol.md, "Copying files"). */
  filesOut(request: FilesOutRequest, handlers: ExecHandlers): GuestExecution {
    return this.open(FrameType.FILES_OUT, request, handlers);
  }

  /** Extracts the tar written to the returned execution's stdin into the box. */
  filesIn(request: FilesInRequest): GuestExecution {
    return this.open(FrameType.FILES_IN, request, { onStdout: () => {}, onStderr: () => {} });
  }

  /**
   * Takes over stream `stream`, which a SUSPEND kept across the resume of a suspended box: its
   * output and exit come to `handlers` and the returned execution as for a command started
   * here (`started` is settled with `started` at once: the guest sends no second STARTED).
   */
  adopt(stream: number, handlers: ExecHandlers, started: StartedMessage): GuestExecution {
    if (this.failure) throw this.failure;
    if (this.executions.has(stream)) throw new BoxliteError("internal", `stream ${stream} is already in use`);
    const execution = new GuestExecution(stream, handlers, (frameType, payload) => this.send(frameType, stream, payload));
    this.executions.set(stream, execution);
    execution.onStarted(started);
    return execution;
  }

  /**
   * On a box socket: attaches to the box's main command. `attached` settles with the
   * owner's answer (rejects when another client is attached: `conflict`); then come
   * STARTED, output and the exit, as for a command.
   */
  attachMain(handlers: ExecHandlers): GuestExecution {
    return this.open(FrameType.ATTACH, {}, handlers);
  }

  /** On a box socket: starts the box's held main command (nothing happens when it already started). */
  startMain(): void {
    this.send(FrameType.START, 0);
  }

  private open(type: FrameType, request: object, handlers: ExecHandlers): GuestExecution {
    if (this.failure) throw this.failure;
    if (this.executions.size >= MAX_STREAMS) throw new BoxliteError("invalid_argument", `at most ${MAX_STREAMS} commands may run at once in a box`);
    const stream = this.allocateStream();
    const execution = new GuestExecution(stream, handlers, (frame, payload) => this.send(frame, stream, payload), { attach: type === FrameType.ATTACH });
    this.executions.set(stream, execution);
    this.send(type, stream, encodeJson(request));
    return execution;
  }

  /** Asks the guest to kill everything, sync its disks and power off. */
  shutdown(): void {
    if (!this.failure) this.send(FrameType.SHUTDOWN, 0);
  }

  /** On a box socket: asks the box's owner to stop the box, with `timeoutMs` of grace when given. */
  requestStop(timeoutMs?: number): void {
    if (!this.failure) this.send(FrameType.STOP, 0, timeoutMs === undefined ? undefined : encodeJson({ timeout_ms: timeoutMs }));
  }

  /** Freezes the box's rootfs in the guest (FIFREEZE): its writes are on the disk and held until thaw. */
  freeze(): Promise<void> {
    return this.askGuest(FrameType.FREEZE, encodeJson({}));
  }

  thaw(): Promise<void> {
    return this.askGuest(FrameType.THAW, encodeJson({}));
  }

  /** Wakes a guest restored from saved memory: its clock, its RNG, and (before CONFIG) the box's disks in place of a template's stand-ins. */
  wake(request: WakeRequest): Promise<void> {
    return this.askGuest(FrameType.WAKE, encodeWake(request));
  }

  /** Tells the guest the VM is about to be saved: its next connection is a resume that keeps these streams (an empty request gives that up). */
  suspend(request: SuspendRequest): Promise<void> {
    return this.askGuest(FrameType.SUSPEND, encodeJson(request));
  }

  private askGuest(type: FrameType, payload: Uint8Array): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.channelAck) return Promise.reject(new BoxliteError("internal", "FREEZE, THAW, WAKE and SUSPEND must not overlap"));
    const answer = Promise.withResolvers<void>();
    this.channelAck = { type, answer };
    this.send(type, 0, payload);
    return answer.promise;
  }

  /** On a box socket: asks the owner to pause the box (and fork its disk); resolves once it is, with its resume (closing the connection resumes too). */
  async quiesce(request: QuiesceRequest): Promise<{ pauseMs: number; resume(): Promise<void> }> {
    const stream = this.allocateStream();
    const answer = await this.ask(FrameType.QUIESCE, stream, request);
    const { pause_ms } = parseQuiesced(answer);
    return { pauseMs: pause_ms, resume: async () => void (await this.ask(FrameType.RESUME, stream, {})) };
  }

  /** On a box socket: asks the owner to stop the box's VM in place (PAUSE); resolves once it is. The pause outlives this connection. */
  pause(): Promise<void> {
    return this.askOwner("PAUSE");
  }

  /** On a box socket: asks the owner to let the box's paused VM go on (UNPAUSE); resolves once it runs. */
  unpause(): Promise<void> {
    return this.askOwner("UNPAUSE");
  }

  /** On a box socket: asks the owner to suspend the box (SUSPEND_BOX: its state saved, its VM ended); resolves once it is saved. */
  suspendBox(): Promise<void> {
    return this.askOwner("SUSPEND_BOX");
  }

  private async askOwner(what: "PAUSE" | "UNPAUSE" | "SUSPEND_BOX"): Promise<void> {
    parsePauseMessage(await this.ask(FrameType[what], this.allocateStream(), {}), what);
  }

  private ask(type: FrameType, stream: number, payload: object): Promise<Uint8Array> {
    if (this.failure) return Promise.reject(this.failure);
    const answer = Promise.withResolvers<Uint8Array>();
    this.holds.set(stream, answer);
    this.send(type, stream, encodeJson(payload));
    return answer.promise;
  }

  /** Whether the open connection keeps the process alive, as sockets do by default: one kept idle for later must not. */
  keepProcessAlive(keep: boolean): void {
    if (keep) this.socket.ref();
    else this.socket.unref();
  }

  /** Ends the connection; what still runs over it fails with `reason` (by default: the channel closed). */
  close(reason?: BoxliteError): void {
    // First: ending the socket may run its close handler at once, which would fail the channel for want of a reason.
    this.finish(reason);
    this.socket.end();
  }

  private allocateStream(): number {
    while (this.executions.has(this.nextStream)) this.nextStream = (this.nextStream % 0x7fffffff) + 1;
    const stream = this.nextStream;
    this.nextStream = (this.nextStream % 0x7fffffff) + 1;
    return stream;
  }

  private send(type: FrameType, stream: number, payload?: Uint8Array): void {
    if (this.failure) return;
    this.writer.write(encodeFrame(type, stream, payload));
  }

  private receive(bytes: Uint8Array): void {
    if (this.failure) return;
    try {
      for (const frame of this.decoder.push(bytes)) this.dispatch(frame);
    } catch (error) {
      const reason = error instanceof FrameError ? error.message : String(error);
      // Tell the guest why, then give up on this connection (the spec's malformed rule).
      this.send(FrameType.ERROR, 0, encodeJson({ code: "malformed", message: reason }));
      this.fail(new BoxliteError("protocol", `the guest sent a malformed frame: ${reason}`));
      this.socket.end();
    }
  }

  private dispatch(frame: Frame): void {
    if (frame.type === FrameType.HELLO) {
      const hello = parseHello(frame.payload);
      if (hello.version !== PROTOCOL_VERSION) {
        this.fail(new BoxliteError("protocol", `the guest agent speaks protocol ${hello.version}, this boxlite speaks ${PROTOCOL_VERSION}`));
        return;
      }
      clearTimeout(this.helloTimer);
      this.unanswered = undefined;
      this.hello.resolve(hello);
      return;
    }
    if (frame.type === FrameType.CONFIG) {
      parseConfigAck(frame.payload);
      const ack = this.configAck;
      if (!ack) throw new FrameError("bad_type", "the guest sent CONFIG that was not asked for");
      this.configAck = undefined;
      ack.resolve();
      return;
    }
    const what = GUEST_ANSWERS.get(frame.type);
    if (what !== undefined) {
      const pending = this.channelAck;
      if (pending?.type !== frame.type) throw new FrameError("bad_type", `the guest answered a ${what} that was not asked for`);
      this.channelAck = undefined;
      const why = parseDoneAnswer(frame.payload, what);
      if (why === undefined) pending.answer.resolve();
      else pending.answer.reject(new BoxliteError("vmm_failed", `${GUEST_COULD_NOT[what]}: ${why}`));
      return;
    }
    const hold = this.holds.get(frame.stream);
    if (hold && OWNER_ANSWERS.has(frame.type)) {
      this.holds.delete(frame.stream);
      if (frame.type === FrameType.ERROR) hold.reject(ownerRefusal(parseError(frame.payload)));
      else hold.resolve(frame.payload);
      return;
    }
    if (frame.type === FrameType.ERROR && frame.stream === 0) {
      this.fail(channelError(parseError(frame.payload)));
      return;
    }
    const execution = this.executions.get(frame.stream);
    if (!execution) return; // A frame crossing the stream's end in flight.
    switch (frame.type) {
      case FrameType.STARTED:
        execution.onStarted(parseStarted(frame.payload));
        return;
      case FrameType.ATTACH:
        execution.onAttached(parseAttached(frame.payload));
        return;
      case FrameType.STDOUT:
      case FrameType.STDERR:
        execution.onOutput(frame.type, frame.payload);
        return;
      case FrameType.WINDOW:
        execution.onWindow(decodeWindow(frame.payload));
        return;
      case FrameType.EXIT:
        this.executions.delete(frame.stream);
        execution.onExit(parseExit(frame.payload));
        return;
      case FrameType.ERROR:
        this.executions.delete(frame.stream);
        execution.onRefused(parseError(frame.payload));
        return;
      default:
        throw new FrameError("bad_type", `the guest may not send frame type 0x${frame.type.toString(16)}`);
    }
  }

  private fail(error: BoxliteError): void {
    if (this.failure) return;
    this.failure = error;
    this.ended.resolve();
    clearTimeout(this.helloTimer);
    this.hello.reject(error);
    this.configAck?.reject(error);
    this.channelAck?.answer.reject(error);
    this.channelAck = undefined;
    for (const hold of this.holds.values()) hold.reject(error);
    this.holds.clear();
    for (const execution of this.executions.values()) execution.onChannelLost(error);
    this.executions.clear();
  }

  private finish(error: BoxliteError | undefined): void {
    this.fail(error ?? this.unanswered?.() ?? new BoxliteError("protocol", "the guest channel closed"));
  }
}
