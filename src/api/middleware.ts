/**
 * What every request goes through before its route: an X-Request-Id (the client's, or a
 * new UUID) echoed on the response and carried into error envelopes; the bearer API key
 * when the server has one; a bound on request bodies.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { payloadTooLarge, unauthenticated } from "./errors.ts";

/** The hono environment of the API: what middleware leaves for routes and `onError`. */
export interface ApiEnv {
  Variables: { requestId: string };
}

/** JSON bodies are small (the largest is a CreateBoxRequest); 1 MiB leaves room and bounds memory. */
export const JSON_BODY_LIMIT = 1024 * 1024;

// Printable ASCII without spaces: a client's id is echoed in a header and in logs, so
// nothing that could split a header line or a log line is taken as it is.
const CLIENT_REQUEST_ID = /^[\x21-\x7e]{1,200}$/;

/** Reads X-Request-Id or mints one, and echoes it on the response (errors included). */
export function requestId(): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const given = c.req.header("X-Request-Id");
    const id = given !== undefined && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    c.set("requestId", id);
    c.header("X-Request-Id", id);
    await next();
    // A route that built its own Response (a stream, an upgrade) skipped c.header.
    if (!c.res.headers.has("X-Request-Id")) {
      try {
        c.res.headers.set("X-Request-Id", id);
      } catch {
        // Immutable headers (a response passed through from elsewhere): leave them.
      }
    }
  };
}

/** The one route anyone may call: clients discover capabilities before they have a key (as the reference's serve allows). */
function isPublic(c: Context): boolean {
  return (c.req.method === "GET" || c.req.method === "HEAD") && c.req.path === "/v1/config";
}

function hashKey(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/**
 * Requires `Authorization: Bearer <apiKey>` on every route but GET /v1/config; without a
 * key, everything is allowed (the reference's permissive local mode).
 */
export function bearerAuth(apiKey: string | undefined): MiddlewareHandler<ApiEnv> {
  if (apiKey === undefined) return (_c, next) => next();
  // Comparing fixed-length digests keeps the comparison constant-time whatever the
  // lengths, so neither the key's bytes nor its length leak through timing.
  const expected = hashKey(apiKey);
  return async (c, next) => {
    if (isPublic(c)) return next();
    const match = /^bearer[ \t]+(\S+)[ \t]*$/i.exec(c.req.header("Authorization") ?? "");
    const token = match?.[1];
    if (token === undefined || !timingSafeEqual(hashKey(token), expected)) throw unauthenticated();
    await next();
  };
}

/** File uploads (tar streams of any size) and imported archives: their routes read and bound them themselves. */
function isStreamedUpload(c: Context): boolean {
  if (c.req.method === "POST") return c.req.path === "/v1/boxes/import";
  return c.req.method === "PUT" && /^\/v1\/boxes\/[^/]+\/files$/.test(c.req.path);
}

/** Refuses (413) any other body past `limit` bytes, whether or not it declares its length. */
export function jsonBodyLimit(limit = JSON_BODY_LIMIT): MiddlewareHandler<ApiEnv> {
  const bounded = bodyLimit({
    maxSize: limit,
    onError: () => {
      throw payloadTooLarge(limit);
    },
  });
  return (c, next) => (isStreamedUpload(c) ? next() : bounded(c, next));
}
