/**
 * The client side of a server's service tunnel: the URI the server answered, an HTTP/1.1
 * CONNECT to its authority, and the connection it becomes once the server says 200.
 */
import { connect, type Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";

const MAX_HEAD = 16 * 1024;
const ANSWER_TIMEOUT_MS = 30_000;

/** Opens one connection through the tunnel at `uri` (http://host:port); `apiKey` goes in Proxy-Authorization. */
export function connectThroughTunnel(uri: string, apiKey: string | undefined): Promise<Socket> {
  const url = new URL(uri);
  if (url.protocol !== "http:")
    throw new BoxliteError("unsupported", `the server's tunnel ${uri} is not http://; this client speaks CONNECT over plain TCP only`);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port || 80);
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let head = Buffer.alloc(0);
    const fail = (why: string) => {
      socket.destroy();
      reject(new BoxliteError("conflict", `the tunnel ${uri} refused the connection: ${why}`));
    };
    const timer = setTimeout(() => fail("no answer"), ANSWER_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > MAX_HEAD) fail("an answer head without an end");
        return;
      }
      clearTimeout(timer);
      socket.off("data", onData).off("error", onError);
      socket.pause();
      const status = head.subarray(0, head.indexOf("\r\n")).toString("latin1");
      if (!/^HTTP\/1\.[01] 200\b/.test(status)) {
        fail(status);
        return;
      }
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      resolve(socket);
    };
    const onError = (error: Error) => {
      clearTimeout(timer);
      fail(error.message);
    };
    socket.on("data", onData).on("error", onError);
    const authority = `${url.hostname}:${port}`;
    const auth = apiKey === undefined ? "" : `Proxy-Authorization: Bearer ${apiKey}\r\n`;
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${auth}\r\n`);
  });
}
