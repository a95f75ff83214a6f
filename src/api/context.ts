/**
 * What every route module of the REST API gets: the runtime, the server's executions, and
 * hono's WebSocket upgrade for Bun. Each module exports `xRoutes(context): Hono`, mounted
 * by app.ts under `/v1`.
 */
import type { UpgradeWebSocket } from "hono/ws";
import type { Boxlite } from "../runtime/boxlite.ts";
import type { ExecutionRegistry } from "./executions.ts";

export interface ApiContext {
  runtime: Boxlite;
  executions: ExecutionRegistry;
  upgradeWebSocket: UpgradeWebSocket;
}
