import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, createServer, type Server, type Socket } from "node:net";
import { connectThroughTunnel } from "./client-tunnel.ts";
import { TunnelListeners } from "./tunnels.ts";

/** Stands for the box's port: a real TCP service on loopback that answers what it was sent, upper-cased. */
let service: Server;
let servicePort = 0;
const dialed: Array<[string, number]> = [];

function dialService(boxId: string, port: number): Promise<Socket> {
  dialed.push([boxId, port]);
  if (port === 9) return Promise.reject(new Error("nothing listens"));
  return new Promise((resolve) => {
    const socket = connect(servicePort, "127.0.0.1", () => resolve(socket));
  });
}

beforeAll(async () => {
  service = createServer((socket) => socket.on("data", (chunk: Buffer) => socket.write(chunk.toString().toUpperCase())));
  await new Promise<void>((resolve) => service.listen(0, "127.0.0.1", resolve));
  servicePort = (service.address() as { port: number }).port;
});
afterAll(() => service.close());

/** Sends `request` on a fresh connection to `uri` and reads until `until` shows up or the other side closes. */
async function exchange(uri: string, request: string, until: string): Promise<string> {
  const { hostname, port } = new URL(uri);
  const socket = connect(Number(port), hostname);
  let answer = "";
  await new Promise<void>((resolve) => {
    socket.on("data", (chunk: Buffer) => {
      answer += chunk.toString();
      if (answer.includes(until)) resolve();
    });
    socket.on("close", () => resolve());
    socket.write(request);
  });
  socket.destroy();
  return answer;
}

test("a CONNECT is answered 200 and then carries bytes both ways; the URI is the same on every call", async () => {
  const tunnels = new TunnelListeners("127.0.0.1", undefined, dialService);
  try {
    const uri = await tunnels.ensure("box1", 8080, "localhost");
    expect(uri).toMatch(/^http:\/\/localhost:\d+$/);
    expect(await tunnels.ensure("box1", 8080, "localhost")).toBe(uri);
    expect(await tunnels.ensure("box1", 8081, "localhost")).not.toBe(uri);
    const answer = await exchange(uri.replace("localhost", "127.0.0.1"), "CONNECT localhost:1 HTTP/1.1\r\nHost: x\r\n\r\nhello", "HELLO");
    expect(answer).toBe("HTTP/1.1 200 Connection established\r\n\r\nHELLO");
    expect(dialed.at(-1)).toEqual(["box1", 8080]);
  } finally {
    tunnels.close();
  }
});

test("any other request is passed to the service whole; a port nothing serves is 502", async () => {
  const tunnels = new TunnelListeners("127.0.0.1", undefined, dialService);
  try {
    const uri = await tunnels.ensure("box1", 8080, "127.0.0.1");
    expect(await exchange(uri, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "\r\n\r\n")).toBe("GET / HTTP/1.1\r\nHOST: A\r\n\r\n");
    const dead = await tunnels.ensure("box1", 9, "127.0.0.1");
    expect(await exchange(dead, "CONNECT x:1 HTTP/1.1\r\n\r\n", "\r\n\r\n")).toStartWith("HTTP/1.1 502 Bad Gateway\r\n");
  } finally {
    tunnels.close();
  }
});

test("with an API key every connection must carry it: 407 without, through with Proxy-Authorization (the client's way)", async () => {
  const tunnels = new TunnelListeners("127.0.0.1", "k3y", dialService);
  try {
    const uri = await tunnels.ensure("box1", 8080, "127.0.0.1");
    const before = dialed.length;
    expect(await exchange(uri, "CONNECT x:1 HTTP/1.1\r\n\r\n", "\r\n\r\n")).toStartWith("HTTP/1.1 407 Proxy Authentication Required\r\n");
    expect(await exchange(uri, "CONNECT x:1 HTTP/1.1\r\nProxy-Authorization: Bearer wrong\r\n\r\n", "\r\n\r\n")).toStartWith("HTTP/1.1 407");
    expect(dialed.length).toBe(before);
    const socket = await connectThroughTunnel(uri, "k3y");
    const echoed = new Promise<string>((resolve) => socket.once("data", (chunk: Buffer) => resolve(chunk.toString())));
    socket.resume();
    socket.write("through");
    expect(await echoed).toBe("THROUGH");
    socket.destroy();
  } finally {
    tunnels.close();
  }
});

test("a request head that never ends is refused rather than buffered without bound", async () => {
  const tunnels = new TunnelListeners("127.0.0.1", undefined, dialService);
  try {
    const uri = await tunnels.ensure("box2", 8080, "127.0.0.1");
    expect(await exchange(uri, `GET / HTTP/1.1\r\nX: ${"a".repeat(20_000)}`, "\r\n\r\n")).toStartWith("HTTP/1.1 431");
  } finally {
    tunnels.close();
  }
});
