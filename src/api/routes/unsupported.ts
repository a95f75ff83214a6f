/**
 * Routes of the contract (and of the reference's serve) that this build does not have:
 * snapshots, clone, export and import. Each answers the reference's own refusal, 400 `UnsupportedError/unsupported`,
 * naming what is missing, so a client learns it from the answer rather than from a 404.
 * GET /v1/config says the same in its capabilities. Bodies are never read.
 */
import { Hono } from "hono";
import { BoxliteError } from "../../util/errors.ts";
import type { ApiEnv } from "../middleware.ts";
import { boxParam } from "../validate.ts";

/** Hono paths under /v1 and what each is, for the message. */
const BOX_SCOPED: Array<[method: "get" | "post" | "delete", path: string, what: string]> = [
  ["post", "/boxes/:id/snapshots", "snapshots"],
  ["get", "/boxes/:id/snapshots", "snapshots"],
  ["get", "/boxes/:id/snapshots/:name", "snapshots"],
  ["delete", "/boxes/:id/snapshots/:name", "snapshots"],
  ["post", "/boxes/:id/snapshots/:name/restore", "snapshots"],
  ["post", "/boxes/:id/clone", "clone"],
  ["post", "/boxes/:id/export", "export"],
];

const GLOBAL: Array<[method: "get" | "post" | "delete", path: string, what: string]> = [["post", "/boxes/import", "import"]];

function refuse(what: string): BoxliteError {
  return new BoxliteError("unsupported", `${what}: not supported by this server (see GET /v1/config capabilities)`);
}

/** The refusing routes, to be mounted under /v1 after the routes that do exist. */
export function unsupportedRoutes(): Hono<ApiEnv> {
  const routes = new Hono<ApiEnv>();
  for (const [method, path, what] of GLOBAL) {
    routes[method](path, () => {
      throw refuse(what);
    });
  }
  for (const [method, path, what] of BOX_SCOPED) {
    routes[method](path, (c) => {
      // A malformed id is still the client's first mistake.
      boxParam(c);
      throw refuse(what);
    });
  }
  return routes;
}
