/**
 * The REST API for tests: the server's app (app.ts), in-process for `app.request()` and on
 * a real Bun server (port 0) for the WebSocket attach and streamed bodies; a small attach
 * client that collects what the server sends.
 */
import { TunnelListeners } from "../../src/api/tunnels.ts";
import { afterAll, beforeAll, expect } from "bun:test";
import type { Hono } from "hono";
import { upgradeWebSocket, websocket } from "../../src/api/websocket.ts";
import { createApp } from "../../src/api/app.ts";
import { ExecutionRegistry, type ExecutionRegistryOptions } from "../../src/api/executions.ts";
import type { ApiEnv } from "../../src/api/middleware.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { waitFor } from "./cli.ts";

export interface TestApi {
  app: Hono<ApiEnv>;
  executions: ExecutionRegistry;
  /** `http://127.0.0.1:PORT/v1` and `ws://127.0.0.1:PORT/v1` of the real server. */
  httpBase: string;
  wsBase: string;
  close(): Promise<void>;
}

/** The app as `boxlite serve` builds it (no API key), also served for real on a free port. */
export function startApi(runtime: Boxlite, options: ExecutionRegistryOptions = {}): TestApi {
  const executions = new ExecutionRegistry(runtime, options);
  const app = createApp({
    runtime,
    executions,
    upgradeWebSocket,
    tunnels: new TunnelListeners("127.0.0.1", undefined, (id, port) => runtime.dialPort(id, port)),
  });
  const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: app.fetch, websocket, maxRequestBodySize: Number.MAX_SAFE_INTEGER });
  return {
    app,
    executions,
    httpBase: `http://127.0.0.1:${server.port}/v1`,
    wsBase: `ws://127.0.0.1:${server.port}/v1`,
    close: async () => {
      await executions.close();
      await server.stop(true);
    },
  };
}

/**
 * The CLI's two ways to a home, for a test file whose commands must print the same either
 * way: the home itself, and `--url` to a server over it (started now, closed after the file).
 */
export function cliModes(): Array<[mode: string, globals: () => string[]]> {
  const api = startApi(Boxlite.open());
  afterAll(() => api.close());
  return [
    ["against the home", () => []],
    ["with --url", () => ["--url", api.httpBase.replace(/\/v1$/, "")]],
  ];
}

/** A JSON request through `app.request`. */
export function jsonRequest(method: string, body?: unknown): RequestInit {
  return body === undefined ? { method } : { method, body: JSON.stringify(body), headers: { "Content-Type": "application/json" } };
}

export type ServerText = { type: "exit"; exit_code: number } | { type: "error"; message: string };

/** One attach WebSocket: stdout and stderr as they came, text frames, and the close. */
export class AttachClient {
  readonly stdout: Uint8Array[] = [];
  readonly stderr: Uint8Array[] = [];
  readonly texts: ServerText[] = [];
  /** Everything in arrival order, to check that the exit frame came last. */
  readonly order: string[] = [];
  closeCode: number | undefined;
  private readonly closed = Promise.withResolvers<number>();

  private constructor(readonly socket: WebSocket) {
    socket.binaryType = "arraybuffer";
    socket.onmessage = (event: MessageEvent) => {
      if (typeof event.data === "string") {
        const text = JSON.parse(event.data) as ServerText;
        this.texts.push(text);
        this.order.push(text.type);
        return;
      }
      const frame = new Uint8Array(event.data as ArrayBuffer);
      (frame[0] === 1 ? this.stdout : this.stderr).push(frame.slice(1));
      this.order.push(frame[0] === 1 ? "stdout" : "stderr");
    };
    socket.onclose = (event: CloseEvent) => {
      this.closeCode = event.code;
      this.closed.resolve(event.code);
    };
  }

  /** Connects; rejects when the server refuses the upgrade. */
  static open(url: string): Promise<AttachClient> {
    const socket = new WebSocket(url);
    const client = new AttachClient(socket);
    return new Promise((resolve, reject) => {
      socket.onopen = () => resolve(client);
      socket.onerror = () => reject(new Error(`the attach to ${url} was refused`));
    });
  }

  stdoutBytes(): Uint8Array {
    return Buffer.concat(this.stdout);
  }

  stdoutText(): string {
    return new TextDecoder().decode(this.stdoutBytes());
  }

  sendText(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  sendBytes(bytes: Uint8Array | string): void {
    this.socket.send(typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes);
  }

  /** The close code, once the server closed. */
  whenClosed(timeoutMs = 60_000): Promise<number> {
    let timer: Timer | undefined;
    const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error("the attach did not close")), timeoutMs)));
    return Promise.race([this.closed.promise, timeout]).finally(() => clearTimeout(timer));
  }

  async waitForStdout(text: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(() => this.stdoutText().includes(text), timeoutMs, `${JSON.stringify(text)} on stdout (have ${JSON.stringify(this.stdoutText())})`);
  }

  async waitForTexts(count: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(() => this.texts.length >= count, timeoutMs, `${count} text frames (have ${JSON.stringify(this.texts)})`);
  }
}

/** A running box and an API server over its runtime, filled in by beforeAll. */
export interface ApiBox {
  box: string;
  api: TestApi;
}

/**
 * A running box (a detached `sleep`, started through the library) and an API server over
 * the runtime, for one test file: set up in beforeAll, removed in afterAll.
 */
export function useApiBox(runtime: Boxlite): ApiBox {
  const fixture = { box: "" } as ApiBox;
  beforeAll(async () => {
    fixture.box = await runtime.create({ cmd: ["sleep", "3600"], memoryMib: 256 });
    // The library starts it too: its supervisor is boxlite's own main.ts, not the test file.
    expect(await runtime.start(fixture.box)).toBe(fixture.box);
    fixture.api = startApi(runtime);
  });
  afterAll(async () => {
    await fixture.api?.close();
    if (fixture.box) await runtime.removeBox(fixture.box, { force: true });
  });
  return fixture;
}
