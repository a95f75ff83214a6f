/**
 * The REST error envelope, the reference's `{error:{message,type,code,request_id}}`
 * (docs/rest-api.md "Errors"). A BoxliteError takes its status, type and code from
 * ERROR_TABLE; the few errors only HTTP has (auth, body size, unknown route) are HttpError;
 * anything else is a bug, answered with a JSON 500 and logged to stderr with its stack.
 */
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { BoxliteError, ERROR_TABLE } from "../util/errors.ts";
import type { ApiEnv } from "./middleware.ts";

/** The body of every error response. */
export interface ErrorEnvelope {
  error: { message: string; type: string; code: string; request_id?: string };
}

/** An error that exists only at the HTTP layer, with its own status, type and code. */
export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly type: string,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

/** 401, as the reference words it. */
export function unauthenticated(): HttpError {
  return new HttpError(401, "AuthError", "unauthenticated", "invalid or missing API key");
}

/** 413: the envelope has no code of its own for it, so it is an invalid argument with the right status. */
export function payloadTooLarge(limit: number): HttpError {
  return new HttpError(413, "InvalidArgumentError", "invalid_argument", `request body is larger than ${limit} bytes`);
}

/** 404 for a path no route answers. */
export function noRoute(method: string, path: string): HttpError {
  return new HttpError(404, "NotFoundError", "not_found", `no route ${method} ${path}; see GET /v1/openapi.json`);
}

interface Described {
  status: ContentfulStatusCode;
  type: string;
  code: string;
  message: string;
  /** Whether the server should log it: a failure of ours, not the client's. */
  serverFault: boolean;
}

function describe(error: unknown): Described {
  if (error instanceof HttpError) return { status: error.status, type: error.type, code: error.code, message: error.message, serverFault: false };
  if (error instanceof BoxliteError) {
    const mapping = ERROR_TABLE[error.code];
    const status = mapping.http as ContentfulStatusCode;
    return { status, type: mapping.type, code: mapping.restCode, message: error.message, serverFault: status >= 500 };
  }
  // Hono's own (e.g. a malformed request it refused before our code ran): keep its status.
  if (error instanceof HTTPException && error.status < 500) {
    return {
      status: error.status as ContentfulStatusCode,
      type: "InvalidArgumentError",
      code: "invalid_argument",
      message: error.message || "bad request",
      serverFault: false,
    };
  }
  // Never echo an unexpected error's text: it may carry paths or internals; the log has it.
  return { status: 500, type: "InternalError", code: "internal", message: "internal server error; the server log has the details", serverFault: true };
}

/** The envelope and status for `error`, with the request's id. */
export function errorEnvelope(error: unknown, requestId?: string): { status: ContentfulStatusCode; body: ErrorEnvelope; serverFault: boolean } {
  const { status, type, code, message, serverFault } = describe(error);
  const body: ErrorEnvelope = { error: { message, type, code } };
  if (requestId !== undefined) body.error.request_id = requestId;
  return { status, body, serverFault };
}

/** One `key=value` line on stderr (docs/rest-api.md); values are quoted JSON strings. */
export function logLine(level: "info" | "warn" | "error", message: string, fields: Record<string, string | number> = {}): void {
  const pairs = Object.entries(fields).map(([key, value]) => `${key}=${typeof value === "number" ? value : JSON.stringify(value)}`);
  process.stderr.write(`boxlite serve: level=${level} msg=${JSON.stringify(message)}${pairs.length > 0 ? ` ${pairs.join(" ")}` : ""}\n`);
}

/** hono's `onError`: every failure of every route becomes the envelope. */
export function respondWithError(error: unknown, c: Context<ApiEnv>): Response {
  // Undefined only when the failure came before the request-id middleware ran.
  const requestId: string | undefined = c.get("requestId");
  const { status, body, serverFault } = errorEnvelope(error, requestId);
  if (serverFault) {
    const detail = error instanceof Error ? (error.stack ?? error.message) : String(error);
    const cause = error instanceof Error && error.cause instanceof Error ? `\ncaused by: ${error.cause.stack ?? error.cause.message}` : "";
    logLine("error", body.error.message, { request_id: requestId ?? "", method: c.req.method, path: c.req.path, status });
    process.stderr.write(`${detail}${cause}\n`);
  }
  if (requestId !== undefined) c.header("X-Request-Id", requestId);
  return c.json(body, status);
}
