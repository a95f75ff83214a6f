/**
 * POST /v1/boxes/{id}/network/tunnel?port=P: the URI of a listener of this server that
 * relays to the box's port (api/tunnels.ts). The box is booted first if it is stopped.
 */
import type { Static } from "@sinclair/typebox";
import { Hono } from "hono";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { TunnelQuery, type TunnelDescriptor } from "../schemas/network.ts";
import { boxParam, readQuery } from "../validate.ts";

/** The host name the client reached this server by (the tunnel's URI uses it), without its port. */
function requestHost(url: string): string {
  const { hostname } = new URL(url);
  return hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
}

export function networkRoutes(context: ApiContext): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  routes.post("/boxes/:id/network/tunnel", async (c) => {
    const { port } = readQuery(c, TunnelQuery);
    const id = await context.runtime.readyForTunnel(boxParam(c));
    const descriptor: Static<typeof TunnelDescriptor> = { uri: await context.tunnels.ensure(id, port, requestHost(c.req.url)) };
    return c.json(descriptor);
  });
  return routes;
}
