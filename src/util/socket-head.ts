/**
 * Reads what a peer sends before a delimiter — a line, an HTTP head — from a stream socket
 * whose bytes after it belong to someone else (a relay, a tunnel's caller): they are put
 * back, and the socket is left paused with none of this reader's listeners on it.
 */
import type { Socket } from "node:net";

/** Why no head came: it grew past its bound, the peer closed or failed, or it took too long. */
export class HeadError extends Error {
  constructor(
    readonly kind: "too_long" | "closed" | "error" | "timeout",
    message: string,
  ) {
    super(message);
  }
}

/** The bytes before `delimiter` (without it); rejects with a HeadError, leaving the socket to the caller. */
export function readHead(socket: Socket, delimiter: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const done = () => {
      clearTimeout(timer);
      socket.off("data", onData).off("error", onError).off("close", onClose);
      socket.pause();
    };
    const fail = (kind: HeadError["kind"], message: string) => {
      done();
      reject(new HeadError(kind, message));
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(delimiter);
      if (end < 0) {
        if (buffered.length > maxBytes) fail("too_long", "more than it may send without an end");
        return;
      }
      done();
      const rest = buffered.subarray(end + delimiter.length);
      if (rest.length > 0) socket.unshift(rest);
      resolve(buffered.subarray(0, end));
    };
    const onError = (error: Error) => fail("error", error.message);
    const onClose = () => fail("closed", "it closed the connection");
    const timer = setTimeout(() => fail("timeout", "timed out"), timeoutMs);
    socket.on("data", onData).on("error", onError).on("close", onClose);
  });
}
