/**
 * What every route module of the REST API gets: the runtime, the server's executions, and
 * the WebSocket upgrade for Bun (websocket.ts). Each module exports
 * `xRoutes(context): Hono`, mounted by app.ts under `/v1`.
 */
import type { UpgradeWebSocket } from "hono/ws";
import type { Boxlite } from "../runtime/boxlite.ts";
import type { ExecutionRegistry } from "./executions.ts";
import type { TunnelListeners } from "./tunnels.ts";
import type { UpgradeOptions } from "./websocket.ts";

export interface ApiContext {
  runtime: Boxlite;
  executions: ExecutionRegistry;
  /** websocket.ts's: it puts `headers` on the 101 answer. */
  upgradeWebSocket: UpgradeWebSocket<unknown, UpgradeOptions>;
  /** The server's service tunnels (POST …/network/tunnel). */
  tunnels: TunnelListeners;
}
