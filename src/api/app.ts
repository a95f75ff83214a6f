/**
 * The REST server as a hono app (docs/rest-api.md): request ids, the API key and a body
 * bound for every request, the routes of each resource mounted under /v1 (no `{prefix}`
 * slot, as the local reference), one `onError` that turns every failure into the error
 * envelope, and a `notFound` that does the same. `boxlite serve` hands `app.fetch` to
 * Bun.serve; tests call `app.request()` in-process.
 */
import { Hono, type MiddlewareHandler } from "hono";
import type { ApiContext } from "./context.ts";
import { noRoute, respondWithError } from "./errors.ts";
import { type ApiEnv, bearerAuth, jsonBodyLimit, requestId } from "./middleware.ts";
import { openapiRoutes } from "./openapi.ts";
import { boxRoutes } from "./routes/boxes.ts";
import { executionRoutes } from "./routes/executions.ts";
import { fileRoutes } from "./routes/files.ts";
import { imageRoutes } from "./routes/images.ts";
import { networkRoutes } from "./routes/network.ts";
import { ServerCounters, systemRoutes } from "./routes/system.ts";
import { portabilityRoutes } from "./routes/portability.ts";
import { snapshotRoutes } from "./routes/snapshots.ts";
import { volumeRoutes } from "./routes/volumes.ts";

export interface AppOptions {
  /** The bearer key every route but GET /v1/config requires; none: open (loopback only, serve.ts). */
  apiKey?: string;
  /** Bytes a request body may have (file uploads and imported archives excepted); default 1 MiB. */
  bodyLimit?: number;
  /** Bytes an imported archive may have; default 64 GiB. */
  importLimit?: number;
}

/**
 * Counts exec requests for the metrics routes from their answers, so the executions code
 * need not know about metrics: a start is 2xx; a refusal by the box or the server (409 and
 * up) is an exec error; a malformed request or an unknown box is neither.
 */
function countExecs(context: ApiContext, counters: ServerCounters): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    await next();
    if (c.req.method !== "POST") return;
    const status = c.res.status;
    if (status >= 300 && status < 409) return;
    const box = await context.runtime.getBox(c.req.param("id") ?? "").catch(() => undefined);
    counters.countExec(box?.box_id, status < 300);
  };
}

/** The API as one hono app. */
export function createApp(context: ApiContext, options: AppOptions = {}): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  const counters = new ServerCounters();
  app.use("*", requestId());
  // Before the body bound: a request without the key is refused before its body is read.
  app.use("*", bearerAuth(options.apiKey));
  app.use("*", jsonBodyLimit(options.bodyLimit));
  app.use("/v1/boxes/:id/exec", countExecs(context, counters));
  app.route("/v1", systemRoutes(context, counters));
  app.route("/v1", openapiRoutes());
  app.route("/v1", boxRoutes(context, counters));
  app.route("/v1", executionRoutes(context));
  app.route("/v1", fileRoutes(context));
  app.route("/v1", imageRoutes(context));
  app.route("/v1", networkRoutes(context));
  app.route("/v1", volumeRoutes(context));
  app.route("/v1", snapshotRoutes(context));
  app.route("/v1", portabilityRoutes(context, options.importLimit));
  app.notFound((c) => respondWithError(noRoute(c.req.method, c.req.path), c));
  app.onError(respondWithError);
  return app;
}
