/** The API in-process for tests: an app over the test home, and requests that parse their answers. */
import { TunnelListeners } from "../../src/api/tunnels.ts";
import { upgradeWebSocket } from "../../src/api/websocket.ts";
import { type AppOptions, createApp } from "../../src/api/app.ts";
import { ExecutionRegistry } from "../../src/api/executions.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";

export interface Answer {
  status: number;
  headers: Headers;
  /** The parsed JSON body, or undefined when there is none (or it is not JSON). */
  json: unknown;
  text: string;
}

/** The envelope of an error answer, as tests read it. */
export interface Envelope {
  error: { message: string; type: string; code: string; request_id?: string };
}

export function makeApp(options: AppOptions = {}) {
  const runtime = Boxlite.open();
  const executions = new ExecutionRegistry(runtime);
  const app = createApp(
    { runtime, executions, upgradeWebSocket, tunnels: new TunnelListeners("127.0.0.1", undefined, (id, port) => runtime.dialPort(id, port)) },
    options,
  );
  return { app, runtime, executions };
}

export type App = ReturnType<typeof makeApp>["app"];

/** One request: `body` is sent as JSON unless it is already a string or bytes. */
export async function call(app: App, method: string, path: string, options: { body?: unknown; headers?: Record<string, string> } = {}): Promise<Answer> {
  const { body, headers = {} } = options;
  const raw =
    body === undefined ? undefined : typeof body === "string" || body instanceof Uint8Array || body instanceof ReadableStream ? body : JSON.stringify(body);
  const response = await app.request(path, {
    method,
    headers: { ...(raw !== undefined ? { "Content-Type": "application/json" } : {}), ...headers },
    body: raw,
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** The error envelope of an answer; fails the test when the body is not one. */
export function envelopeOf(answer: Answer): Envelope["error"] {
  const error = (answer.json as Partial<Envelope> | undefined)?.error;
  if (!error || typeof error.message !== "string" || typeof error.type !== "string" || typeof error.code !== "string") {
    throw new Error(`expected an error envelope, got ${answer.status} ${answer.text.slice(0, 300)}`);
  }
  return error;
}
