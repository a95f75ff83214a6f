/**
 * The attach WebSocket of an execution, framed as the contract and the reference's serve say.
 * Client → server: binary = stdin bytes; text = `{"type":"resize","rows","cols"}`,
 * `{"type":"signal","sig"}` or `{"type":"stdin_eof"}`. Server → client: binary
 * `[0x01]+bytes` (stdout) or `[0x02]+bytes` (stderr); text `{"type":"exit","exit_code":N}`
 * then close 1000; text `{"type":"error","message"}` for a frame it could not act on (the
 * connection stays open). A ping every 15 s keeps proxies from idling it out.
 */
import { Type } from "@sinclair/typebox";
import type { WSContext, WSEvents, WSMessageReceive } from "hono/ws";
import { BoxliteError } from "../util/errors.ts";
import type { ExecutionClient, TrackedExecution } from "./execution.ts";
import { checkValue } from "./validate.ts";

const PING_MS = 15_000;
/** Stdin taken from a client but not yet by the command: past this, the socket stops reading. */
const STDIN_HIGH_WATER = 256 * 1024;

/** The contract's allow-list: HUP INT QUIT ABRT USR1 USR2 TERM WINCH. */
const ALLOWED_SIGNALS: ReadonlySet<number> = new Set([1, 2, 3, 6, 10, 12, 15, 28]);
const SIGKILL = 9;

/** `signal` when the allow-list has it; SIGKILL is DELETE's (it also evicts). */
export function checkSignal(signal: number): number {
  if (signal === SIGKILL) throw new BoxliteError("invalid_argument", "signal 9 (SIGKILL) is not sent this way: DELETE the execution to kill it");
  if (!ALLOWED_SIGNALS.has(signal))
    throw new BoxliteError("invalid_argument", `signal ${signal} is not allowed; use one of ${[...ALLOWED_SIGNALS].join(", ")}`);
  return signal;
}

const ResizeFrame = Type.Object({
  type: Type.Literal("resize"),
  rows: Type.Integer({ minimum: 1, maximum: 65535 }),
  cols: Type.Integer({ minimum: 1, maximum: 65535 }),
});
const SignalFrame = Type.Object({ type: Type.Literal("signal"), sig: Type.Integer() });

/** What Bun's ServerWebSocket offers beyond hono's WSContext (absent elsewhere). */
interface RawSocket {
  ping?(): unknown;
  getBufferedAmount?(): number;
  pause?(): void;
  resume?(): void;
}

function sendError(ws: WSContext, message: string): void {
  ws.send(JSON.stringify({ type: "error", message }));
}

/** Acts on one text frame; anything wrong with it is the client's to hear about. */
function control(tracked: TrackedExecution, text: string): void {
  let frame: unknown;
  try {
    frame = JSON.parse(text);
  } catch {
    throw new BoxliteError("invalid_argument", "a text frame must be a JSON object with a type: resize, signal or stdin_eof");
  }
  const type = typeof frame === "object" && frame !== null && "type" in frame ? frame.type : undefined;
  switch (type) {
    case "resize": {
      const resize = checkValue(ResizeFrame, frame, "frame");
      tracked.resize(resize.rows, resize.cols);
      return;
    }
    case "signal":
      tracked.signal(checkSignal(checkValue(SignalFrame, frame, "frame").sig));
      return;
    case "stdin_eof":
      void tracked.closeStdin();
      return;
    default:
      throw new BoxliteError("invalid_argument", `unknown frame type ${JSON.stringify(type)}; use resize, signal or stdin_eof`);
  }
}

/** The WebSocket handlers of one attach; the execution's attach slot was reserved by the route. */
export function attachEvents(tracked: TrackedExecution): WSEvents {
  let client: ExecutionClient | undefined;
  let raw: RawSocket | undefined;
  let ping: Timer | undefined;
  let paused = false;
  const end = () => {
    clearInterval(ping);
    if (client) tracked.detach(client);
    else tracked.release();
  };

  const stdin = (bytes: Uint8Array) => {
    if (!tracked.isRunning) throw new BoxliteError("conflict", `execution ${tracked.id} has finished; its stdin is closed`);
    const written = tracked.writeStdin(bytes);
    // A client faster than the command: stop reading its socket (TCP backpressure) until the command caught up.
    if (tracked.stdinPending <= STDIN_HIGH_WATER || paused || !raw?.pause || !raw.resume) return;
    const socket = raw;
    socket.pause?.();
    paused = true;
    void written.finally(() => {
      paused = false;
      socket.resume?.();
    });
  };

  const message = (data: WSMessageReceive, ws: WSContext) => {
    try {
      if (typeof data === "string") return control(tracked, data);
      if (data instanceof Blob) throw new BoxliteError("invalid_argument", "binary frames must arrive as bytes");
      stdin(new Uint8Array(data));
    } catch (error) {
      sendError(ws, error instanceof BoxliteError ? error.message : "the frame could not be handled");
    }
  };

  return {
    onOpen: (_event, ws) => {
      // hono types the raw socket as unknown; on Bun it is a ServerWebSocket.
      raw = ws.raw as RawSocket | undefined;
      const socket = raw;
      client = {
        send: (data) => ws.send(data),
        close: (code, reason) => ws.close(code, reason),
        bufferedAmount: () => socket?.getBufferedAmount?.() ?? 0,
      };
      ping = setInterval(() => socket?.ping?.(), PING_MS);
      tracked.attach(client);
    },
    onMessage: (event, ws) => message(event.data, ws),
    onClose: end,
    onError: end,
  };
}
