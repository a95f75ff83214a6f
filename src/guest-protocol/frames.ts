/**
 * Framing layer of the host ⇄ guest protocol (docs/guest-protocol.md): a 12-byte
 * big-endian header (length, stream, type, flags, reserved) and a bounded payload.
 */

export const HEADER_SIZE = 12;
export const MAX_PAYLOAD = 1024 * 1024;
/** Senders split data into chunks of at most this size. */
export const MAX_DATA_CHUNK = 64 * 1024;
export const INITIAL_WINDOW = 262144;
export const PROTOCOL_VERSION = 1;
export const MAX_STREAMS = 64;

export const FrameType = {
  HELLO: 0x01,
  EXEC: 0x02,
  STARTED: 0x03,
  EXIT: 0x04,
  FILES_OUT: 0x05,
  FILES_IN: 0x06,
  STDIN: 0x10,
  STDOUT: 0x11,
  STDERR: 0x12,
  WINDOW: 0x13,
  SIGNAL: 0x20,
  RESIZE: 0x21,
  SHUTDOWN: 0x30,
  CONFIG: 0x31,
  FREEZE: 0x32,
  THAW: 0x33,
  WAKE: 0x34,
  SUSPEND: 0x35,
  ERROR: 0x3f,
  // Box socket only (docs/guest-protocol.md "The box socket"): requests to the box's owner, never sent to the guest.
  ATTACH: 0x40,
  START: 0x41,
  STOP: 0x42,
  QUIESCE: 0x43,
  RESUME: 0x44,
  PAUSE: 0x45,
  UNPAUSE: 0x46,
  SUSPEND_BOX: 0x47,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Which stream a frame type may travel on: the channel (0), a command stream, or either. */
const STREAM_KIND: Record<FrameType, "channel" | "command" | "any"> = {
  [FrameType.HELLO]: "channel",
  [FrameType.EXEC]: "command",
  [FrameType.STARTED]: "command",
  [FrameType.EXIT]: "command",
  [FrameType.FILES_OUT]: "command",
  [FrameType.FILES_IN]: "command",
  [FrameType.STDIN]: "command",
  [FrameType.STDOUT]: "command",
  [FrameType.STDERR]: "command",
  [FrameType.WINDOW]: "command",
  [FrameType.SIGNAL]: "command",
  [FrameType.RESIZE]: "command",
  [FrameType.SHUTDOWN]: "channel",
  [FrameType.CONFIG]: "channel",
  [FrameType.FREEZE]: "channel",
  [FrameType.THAW]: "channel",
  [FrameType.WAKE]: "channel",
  [FrameType.SUSPEND]: "channel",
  [FrameType.ERROR]: "any",
  [FrameType.ATTACH]: "command",
  [FrameType.START]: "channel",
  [FrameType.STOP]: "channel",
  [FrameType.QUIESCE]: "command",
  [FrameType.RESUME]: "command",
  [FrameType.PAUSE]: "command",
  [FrameType.UNPAUSE]: "command",
  [FrameType.SUSPEND_BOX]: "command",
};

/** Frames only box-socket peers speak: the guest does not know them (bad_type there and in the golden vectors). */
const BOX_SOCKET_ONLY: ReadonlySet<number> = new Set([
  FrameType.ATTACH,
  FrameType.START,
  FrameType.STOP,
  FrameType.QUIESCE,
  FrameType.RESUME,
  FrameType.PAUSE,
  FrameType.UNPAUSE,
  FrameType.SUSPEND_BOX,
]);

export interface DecoderOptions {
  /** Accept the box socket's own frames (ATTACH, START, STOP, QUIESCE, RESUME, PAUSE, UNPAUSE, SUSPEND_BOX) besides the guest's. */
  boxSocket?: boolean;
}

export interface Frame {
  type: FrameType;
  stream: number;
  payload: Uint8Array;
}

export type FrameErrorCode = "too_large" | "bad_type" | "bad_flags" | "bad_stream" | "bad_window" | "bad_payload";

export class FrameError extends Error {
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "FrameError";
  }
}

function isFrameType(value: number, boxSocket: boolean): value is FrameType {
  return value in STREAM_KIND && (boxSocket || !BOX_SOCKET_ONLY.has(value));
}

export function encodeFrame(type: FrameType, stream: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  if (payload.length > MAX_PAYLOAD) throw new FrameError("too_large", `payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, payload.length);
  view.setUint32(4, stream >>> 0);
  view.setUint8(8, type);
  out.set(payload, HEADER_SIZE);
  return out;
}

/**
 * Checks a header and returns the payload length, or throws FrameError.
 * Exposed so that the golden vectors can pin each rule.
 */
function checkHeader(view: DataView, boxSocket: boolean): { length: number; stream: number; type: FrameType } {
  const length = view.getUint32(0);
  const stream = view.getUint32(4);
  const type = view.getUint8(8);
  if (length > MAX_PAYLOAD) throw new FrameError("too_large", `frame payload of ${length} bytes exceeds ${MAX_PAYLOAD}`);
  if (!isFrameType(type, boxSocket)) throw new FrameError("bad_type", `unknown frame type 0x${type.toString(16)}`);
  if (view.getUint8(9) !== 0 || view.getUint16(10) !== 0) throw new FrameError("bad_flags", "nonzero flags or reserved bytes");
  const kind = STREAM_KIND[type];
  if ((kind === "channel" && stream !== 0) || (kind === "command" && stream === 0)) {
    throw new FrameError("bad_stream", `frame type 0x${type.toString(16)} on stream ${stream}`);
  }
  if (type === FrameType.WINDOW && length !== 4) throw new FrameError("bad_window", `WINDOW payload of ${length} bytes, want 4`);
  return { length, stream, type };
}

/**
 * Incremental decoder: push bytes as they arrive, take whole frames out.
 * Holds at most one partial frame; a malformed header throws and the decoder is then unusable.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;

  constructor(private readonly options: DecoderOptions = {}) {}

  push(bytes: Uint8Array): Frame[] {
    this.chunks.push(bytes);
    this.buffered += bytes.length;
    const frames: Frame[] = [];
    for (;;) {
      const frame = this.next();
      if (!frame) return frames;
      frames.push(frame);
    }
  }

  private next(): Frame | undefined {
    if (this.buffered < HEADER_SIZE) return undefined;
    const header = this.peek(HEADER_SIZE);
    const { length, stream, type } = checkHeader(new DataView(header.buffer, header.byteOffset, HEADER_SIZE), this.options.boxSocket === true);
    if (this.buffered < HEADER_SIZE + length) return undefined;
    const whole = this.take(HEADER_SIZE + length);
    return { type, stream, payload: whole.subarray(HEADER_SIZE) };
  }

  private peek(size: number): Uint8Array {
    const first = this.chunks[0];
    if (first && first.length >= size) return first;
    const merged = new Uint8Array(Bun.concatArrayBuffers(this.chunks));
    this.chunks = [merged];
    return merged;
  }

  private take(size: number): Uint8Array {
    const merged = this.peek(size);
    const rest = merged.subarray(size);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered -= size;
    return merged.subarray(0, size);
  }
}

/** The payload of a WINDOW frame: a big-endian u32 increment. */
export function encodeWindowPayload(increment: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, increment >>> 0);
  return payload;
}

export function decodeWindow(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
}
