/**
 * The client of a box's network process control socket (docs/network.md, "Control
 * socket"): one line asked, one answered; for a tunnel the socket then carries the
 * connection to the box's port.
 */
import type { Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";
import { HeadError, readHead } from "../util/socket-head.ts";

/** netd answers in milliseconds; a box stopping under the request must not hang it. */
const ANSWER_TIMEOUT_MS = 5_000;
/** An answer line is short; more without a newline is not netd speaking. */
const MAX_LINE = 4096;

/** Connects, writes `request`, and resolves with the socket once the first answer line is read (bytes after it stay in the socket). */
async function ask(path: string, request: string): Promise<{ socket: Socket; line: string }> {
  // Loaded on use (src/image/decompress.ts says why).
  const { createConnection } = await import("node:net");
  const socket = createConnection(path);
  socket.write(`${request}\n`);
  try {
    const line = await readHead(socket, "\n", MAX_LINE, ANSWER_TIMEOUT_MS);
    return { socket, line: line.toString("utf8") };
  } catch (error) {
    socket.destroy();
    const why =
      error instanceof HeadError && error.kind === "too_long" ? "an answer line without an end" : error instanceof Error ? error.message : String(error);
    throw new BoxliteError("conflict", `the box's network process did not answer (${why}); is the box running?`);
  }
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
