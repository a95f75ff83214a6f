/**
 * hono's WebSocket upgrade for Bun, with headers on the 101 answer: hono/bun's drops them,
 * and the main session's attach names its execution in `X-Boxlite-Execution-Id`, as the
 * reference does. The `websocket` handler stays hono/bun's (it reads the same `data`).
 */
import { getBunServer, websocket } from "hono/bun";
import { defineWebSocketHelper } from "hono/ws";

export interface UpgradeOptions {
  /** Extra headers of the 101 Switching Protocols answer. */
  headers?: Record<string, string>;
}

interface BunUpgrader {
  upgrade(request: Request, options: { data: unknown; headers?: Record<string, string> }): boolean;
}

export const upgradeWebSocket = defineWebSocketHelper<unknown, UpgradeOptions>((c, events, options) => {
  const server = getBunServer<BunUpgrader>(c);
  if (!server) throw new TypeError("the WebSocket upgrade needs Bun's server as the fetch handler's second argument");
  const data = { events, url: new URL(c.req.url), protocol: c.req.header("sec-websocket-protocol")?.split(",")[0]?.trim() ?? "" };
  // Bun answers 101 itself when the upgrade succeeds; the response returned here is not sent.
  if (server.upgrade(c.req.raw, { data, ...(options?.headers ? { headers: options.headers } : {}) })) return new Response(null);
  return undefined;
});

export { websocket };
