/**
 * `boxlite serve`: the REST API (docs/rest-api.md) on Bun.serve, over the same runtime the
 * CLI uses. A thin command: the app is src/api/app.ts. Boxes it starts run under their own
 * supervisors, so stopping the server leaves them as their lifecycle says; only the
 * server's executions (commands it started and streams) end with it.
 */
import { TunnelListeners } from "../api/tunnels.ts";
import { upgradeWebSocket, websocket } from "../api/websocket.ts";
import { createApp } from "../api/app.ts";
import { logLine } from "../api/errors.ts";
import { ExecutionRegistry } from "../api/executions.ts";
import type { Boxlite } from "../runtime/boxlite.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseInteger } from "../util/flags.ts";
import { DEFAULT_SECURITY, SECURITY_MODES, type SecurityMode } from "../vmm/jail/host.ts";
import { parseOptions } from "./args.ts";
import { out } from "./output.ts";

export const SERVE_USAGE = `Usage: boxlite serve [--host HOST] [--port PORT] [--api-key KEY] [--security enable|disable]

Serve the REST API (the reference's routes under /v1; GET /v1/openapi.json describes
them) until SIGINT or SIGTERM.

Options:
      --host HOST     Address to listen on (default 127.0.0.1). Any other than loopback
                      needs an API key
      --port PORT     TCP port (default 8100; 0 picks a free one)
      --api-key KEY   Require "Authorization: Bearer KEY" on every route but
                      GET /v1/config (default: $BOXLITE_SERVE_API_KEY)
      --security MODE The jail around the VMM of every box created through the
                      server: enable (the default) or disable (docs/security.md). A
                      client cannot choose it
`;

const OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  "api-key": { type: "string" },
  security: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const;

const DEFAULT_HOST = "127.0.0.1";
const DEFAULT_PORT = 8100;
/** How long in-flight requests get to finish once the server stops listening. */
const DRAIN_MS = 5_000;

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host === "[::1]" || /^127(\.\d{1,3}){3}$/.test(host);
}

function formatUrl(host: string, port: number): string {
  return `http://${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

export async function serveCommand(given: Boxlite, argv: string[]): Promise<number> {
  const { values } = parseOptions("serve", OPTIONS, argv);
  if (values.help) {
    void out(SERVE_USAGE);
    return 0;
  }
  const security = values.security;
  if (security !== undefined && !(SECURITY_MODES as readonly string[]).includes(security))
    throw new BoxliteError("usage", `--security ${JSON.stringify(security)}: use enable or disable`);
  // The operator's choice, for every box made through the server (a client's request cannot say).
  const runtime = security === undefined ? given : given.withConfig({ security: security as SecurityMode });
  const host = values.host ?? DEFAULT_HOST;
  const port = parseInteger("--port", values.port) ?? DEFAULT_PORT;
  if (port < 0 || port > 65535) throw new BoxliteError("usage", `--port ${port} is out of range; use 0 to 65535`);
  const apiKey = values["api-key"] ?? runtime.config.serveApiKey;
  if (apiKey === "") throw new BoxliteError("usage", "--api-key needs a non-empty key");
  if (!isLoopback(host) && apiKey === undefined) {
    // Anyone who reaches an open server can run commands in every box of this home.
    throw new BoxliteError(
      "usage",
      `refusing to listen on ${host} without an API key: anyone who can reach it could run commands in your boxes; give --api-key KEY (or set BOXLITE_SERVE_API_KEY), or listen on ${DEFAULT_HOST}`,
    );
  }
  // Open the home now, so that a home this boxlite cannot use fails here and not on the first request.
  await runtime.home();
  const executions = new ExecutionRegistry(runtime, runtime.config.reaper);
  const tunnels = new TunnelListeners(host, apiKey, (id, boxPort) => runtime.dialPort(id, boxPort));
  const app = createApp({ runtime, executions, upgradeWebSocket, tunnels }, { apiKey });
  let server: ReturnType<typeof Bun.serve>;
  try {
    server = Bun.serve({
      hostname: host,
      port,
      fetch: app.fetch,
      websocket,
      // No request timeout, as the reference: a stop or a pull may take minutes.
      idleTimeout: 0,
      // File uploads stream with no bound; every other body is bounded by the app (1 MiB).
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    });
  } catch (cause) {
    tunnels.close();
    await executions.close();
    throw new BoxliteError("invalid_argument", `cannot listen on ${formatUrl(host, port)}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
  }
  logLine("info", "listening", {
    url: formatUrl(host, server.port ?? port),
    home: runtime.config.home,
    auth: apiKey === undefined ? "off" : "bearer",
    security: runtime.config.security ?? DEFAULT_SECURITY,
  });
  const signalled = Promise.withResolvers<string>();
  const onSignal = (signal: string) => signalled.resolve(signal);
  // `once`: a second Ctrl-C during shutdown takes the default action and ends the process at once.
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const signal = await signalled.promise;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  logLine("info", "shutting down", { signal });
  // Stop listening; requests in flight may finish while the executions end.
  const drained = server.stop(false);
  tunnels.close();
  await executions.close();
  await Promise.race([drained, Bun.sleep(DRAIN_MS)]);
  // Whatever is still open (a download, an idle keep-alive) is closed now.
  await server.stop(true);
  logLine("info", "stopped");
  return 0;
}
