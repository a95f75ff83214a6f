/**
 * The client side of a server's service tunnel: the URI the server answered, an HTTP/1.1
 * CONNECT to its authority, and the connection it becomes once the server says 200.
 */
import type { Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";
import { HeadError, readHead } from "../util/socket-head.ts";

const MAX_HEAD = 16 * 1024;
const ANSWER_TIMEOUT_MS = 30_000;

/** Opens one connection through the tunnel at `uri` (http://host:port); `apiKey` goes in Proxy-Authorization. */
export async function connectThroughTunnel(uri: string, apiKey: string | undefined): Promise<Socket> {
  const url = new URL(uri);
  if (url.protocol !== "http:")
    throw new BoxliteError("unsupported", `the server's tunnel ${uri} is not http://; this client speaks CONNECT over plain TCP only`);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port || 80);
  // Loaded on use (src/image/decompress.ts says why).
  const { connect } = await import("node:net");
  const socket = connect({ host, port });
  const authority = `${url.hostname}:${port}`;
  const auth = apiKey === undefined ? "" : `Proxy-Authorization: Bearer ${apiKey}\r\n`;
  socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
  const refused = (why: string) => {
    socket.destroy();
    return new BoxliteError("conflict", `the tunnel ${uri} refused the connection: ${why}`);
  };
  let head: Buffer;
  try {
    head = await readHead(socket, "\r\n\r\n", MAX_HEAD, ANSWER_TIMEOUT_MS);
  } catch (error) {
    const kind = error instanceof HeadError ? error.kind : "error";
    throw refused(
      kind === "too_long" ? "an answer head without an end" : kind === "timeout" ? "no answer" : error instanceof Error ? error.message : String(error),
    );
  }
  const text = head.toString("latin1");
  const status = text.split("\r\n", 1)[0] ?? "";
  if (!/^HTTP\/1\.[01] 200\b/.test(status)) throw refused(status);
  return socket;
}
