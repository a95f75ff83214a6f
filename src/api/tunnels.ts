/**
 * Service tunnels of `boxlite serve` (POST /v1/boxes/{id}/network/tunnel?port=P): one
 * listener per box and port, on the server's own address, whose URI the route answers.
 * Each connection to it is one connection to the box's port: an HTTP/1.1 `CONNECT` is
 * answered `200` and then carries raw bytes (what the reference's clients send); any other
 * request is passed through as it is, so an HTTP service (WebSockets included) is reachable
 * at the URI directly. With an API key, every connection's first request must carry it
 * (`Proxy-Authorization` or `Authorization: Bearer KEY`), as every route does.
 */
import { createServer, type Server, type Socket } from "node:net";
import { BoxliteError } from "../util/errors.ts";

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
    const server = createServer((client) => this.serve(client, boxId, port));
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
  private serve(client: Socket, boxId: string, port: number): void {
    let head = Buffer.alloc(0);
    const timer = setTimeout(() => client.destroy(), HEAD_TIMEOUT_MS);
    const refuse = (status: string) => {
      clearTimeout(timer);
      client.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (head.length > MAX_HEAD) refuse("431 Request Header Fields Too Large");
        return;
      }
      client.off("data", onData);
      client.pause();
      clearTimeout(timer);
      const text = head.subarray(0, end).toString("latin1");
      if (!this.authorized(text)) {
        refuse('407 Proxy Authentication Required\r\nProxy-Authenticate: Bearer realm="boxlite"');
        return;
      }
      const connect = /^CONNECT /i.test(text);
      // A CONNECT's head is ours to answer; any other request is the service's, passed on whole.
      const forward = connect ? head.subarray(end + 4) : head;
      this.dial(boxId, port).then(
        (upstream) => {
          if (connect) client.write("HTTP/1.1 200 Connection established\r\n\r\n");
          if (forward.length > 0) upstream.write(forward);
          relay(client, upstream);
        },
        () => refuse("502 Bad Gateway"),
      );
    };
    client.on("data", onData);
    client.on("error", () => client.destroy());
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
