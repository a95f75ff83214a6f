/**
 * Service tunnels of `boxlite serve` (POST /v1/boxes/{id}/network/tunnel?port=P): one
 * listener per box and port, on the server's own address, whose URI the route answers.
 * Each connection to it is one connection to the box's port: an HTTP/1.1 `CONNECT` is
 * answered `200` and then carries raw bytes (what the reference's clients send); any other
 * request is passed through as it is, so an HTTP service (WebSockets included) is reachable
 * at the URI directly. With an API key, every connection's first request must carry it
 * (`Proxy-Authorization` or `Authorization: Bearer KEY`), as every route does.
 */
import type { Server, Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";
import { HeadError, readHead } from "../util/socket-head.ts";

/** Dials the box's port (the runtime's dialPort). */
export type PortDialer = (boxId: string, port: number) => Promise<Socket>;

/** A request head is short; a client that sends more before the blank line is not one. */
const MAX_HEAD = 16 * 1024;
/** A client that connects and says nothing is let go. */
const HEAD_TIMEOUT_MS = 30_000;
/** Listeners per server: each is a socket the host keeps open. */
const MAX_TUNNELS = 256;

/** `http://host:port` with an IPv6 host bracketed. */
function uriOf(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

function headerValue(head: string, name: string): string | undefined {
  const pattern = new RegExp(`^${name}:[ \\t]*(.*?)[ \\t]*$`, "im");
  return pattern.exec(head)?.[1];
}

export class TunnelListeners {
  private readonly listeners = new Map<string, { server: Server; port: number }>();

  constructor(
    /** The address the server listens on: tunnels listen there too. */
    private readonly host: string,
    private readonly apiKey: string | undefined,
    private readonly dial: PortDialer,
  ) {}

  /**
   * The tunnel's URI for `port` of box `boxId`, made on first use (safe to repeat, as the
   * contract says). `uriHost` is the host name the client reached the server by.
   */
  async ensure(boxId: string, port: number, uriHost: string): Promise<string> {
    const key = `${boxId}:${port}`;
    const existing = this.listeners.get(key);
    if (existing) return uriOf(uriHost, existing.port);
    if (this.listeners.size >= MAX_TUNNELS) throw new BoxliteError("conflict", `this server already has ${MAX_TUNNELS} tunnels; restart it to drop them`);
    // Loaded on use (src/image/decompress.ts says why).
    const { createServer } = await import("node:net");
    const server = createServer((client) => void this.serve(client, boxId, port));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, this.host, () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === "string") throw new BoxliteError("internal", "a tunnel listener has no TCP address");
    this.listeners.set(key, { server, port: address.port });
    return uriOf(uriHost, address.port);
  }

  /** Stops every listener (the server is stopping); connections in flight end with their ends. */
  close(): void {
    for (const { server } of this.listeners.values()) server.close();
    this.listeners.clear();
  }

  private authorized(head: string): boolean {
    if (this.apiKey === undefined) return true;
    const expected = `Bearer ${this.apiKey}`;
    return headerValue(head, "proxy-authorization") === expected || headerValue(head, "authorization") === expected;
  }

  /** Reads the first request's head, then relays the connection to the box's port. */
  private async serve(client: Socket, boxId: string, port: number): Promise<void> {
    client.on("error", () => client.destroy());
    const refuse = (status: string) => client.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    let head: Buffer;
    try {
      head = await readHead(client, "\r\n\r\n", MAX_HEAD, HEAD_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof HeadError && error.kind === "too_long") refuse("431 Request Header Fields Too Large");
      else client.destroy();
      return;
    }
    const text = head.toString("latin1");
    if (!this.authorized(text)) {
      refuse('407 Proxy Authentication Required\r\nProxy-Authenticate: Bearer realm="boxlite"');
      return;
    }
    const connect = /^CONNECT /i.test(text);
    let upstream: Socket;
    try {
      upstream = await this.dial(boxId, port);
    } catch {
      refuse("502 Bad Gateway");
      return;
    }
    // A CONNECT's head is ours to answer; any other request is the service's, passed on whole
    // (what followed the head is still in the client socket, for the relay).
    if (connect) client.write("HTTP/1.1 200 Connection established\r\n\r\n");
    else upstream.write(Buffer.concat([head, Buffer.from("\r\n\r\n")]));
    relay(client, upstream);
  }
}

/** Bytes both ways until both sides are done; an error on either ends both. */
export function relay(a: Socket, b: Socket): void {
  a.pipe(b);
  b.pipe(a);
  const end = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", end);
  b.on("error", end);
  a.resume();
  b.resume();
}
