/**
 * The client of a box's network process control socket (docs/network.md, "Control
 * socket"): one line asked, one answered; for a tunnel the socket then carries the
 * connection to the box's port.
 */
import { createConnection, type Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";

/** netd answers in milliseconds; a box stopping under the request must not hang it. */
const ANSWER_TIMEOUT_MS = 5_000;
/** An answer line is short; more without a newline is not netd speaking. */
const MAX_LINE = 4096;

/** Connects, writes `request`, and resolves with the socket once the first answer line is read (bytes after it stay in the socket). */
function ask(path: string, request: string): Promise<{ socket: Socket; line: string }> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let buffered = Buffer.alloc(0);
    const fail = (why: string) => {
      socket.destroy();
      reject(new BoxliteError("conflict", `the box's network process did not answer (${why}); is the box running?`));
    };
    const timer = setTimeout(() => fail("timed out"), ANSWER_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(10);
      if (end < 0) {
        if (buffered.length > MAX_LINE) fail("an answer line without an end");
        return;
      }
      clearTimeout(timer);
      socket.off("data", onData).off("error", onError).off("close", onClose);
      socket.pause();
      const rest = buffered.subarray(end + 1);
      if (rest.length > 0) socket.unshift(rest);
      resolve({ socket, line: buffered.subarray(0, end).toString("utf8") });
    };
    const onError = (error: Error) => {
      clearTimeout(timer);
      fail(error.message);
    };
    const onClose = () => {
      clearTimeout(timer);
      fail("it closed the connection");
    };
    socket.on("data", onData).on("error", onError).on("close", onClose);
    socket.write(`${request}\n`);
  });
}

/** The figures line of `stats`, parsed. */
export async function askStats(path: string): Promise<unknown> {
  const { socket, line } = await ask(path, "stats");
  socket.destroy();
  try {
    return JSON.parse(line);
  } catch {
    throw new BoxliteError("internal", `the box's network process answered stats with ${JSON.stringify(line.slice(0, 200))}`);
  }
}

/** A connection to the box's TCP `port`, through its network process. */
export async function dialBoxPort(path: string, port: number): Promise<Socket> {
  const { socket, line } = await ask(path, `tunnel ${port}`);
  if (line === "ok") return socket;
  socket.destroy();
  const why = line.startsWith("error ") ? line.slice("error ".length) : line;
  throw new BoxliteError("conflict", `cannot reach port ${port} in the box: ${why}`);
}
