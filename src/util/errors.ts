/**
 * The one error type of boxlite. Every failure a user can see is a BoxliteError with a
 * code from a closed union; ERROR_TABLE maps each code once to an HTTP status and a CLI
 * exit code. Foreign errors are wrapped at the edge with `cause`.
 */

export type ErrorCode =
  | "usage" // bad flags or arguments
  | "invalid_argument" // a well-formed request with a bad value
  | "not_found" // a box, image or file that does not exist
  | "missing_dependency" // a host program or library is not installed
  | "vmm_failed" // the VMM could not start or died
  | "guest_timeout" // the guest did not come up in time
  | "protocol" // the guest channel broke or spoke nonsense
  | "disk" // a disk image could not be created or read
  | "unsupported" // not available on this host or in this build
  | "conflict" // the thing is in the wrong state for the request
  | "already_exists" // the name or id is taken
  | "session_reaped" // an execution the server's reaper ended because nobody attached to it
  | "database" // the home's database is unreadable, corrupt, from a newer boxlite, or failed to migrate
  | "busy" // another process holds the lock of this home or box
  | "image_not_found" // an image reference that resolves to nothing: an unknown repository, tag or platform
  | "registry" // an image registry failed, went away or sent something wrong
  | "unauthorized" // a registry refused the credentials (or asked for some and none were found)
  | "internal"; // a bug: nothing the user did

interface ErrorMapping {
  /** HTTP status of the REST API (the reference's mapping, docs/rest-api.md). */
  http: number;
  /** The REST error envelope's `type` and `code`. */
  type: string;
  restCode: string;
  /** CLI exit code. */
  exit: number;
}

/** Exit codes: see docs/cli.md "Exit codes". `run` maps every boxlite failure to 125. */
export const ERROR_TABLE: Record<ErrorCode, ErrorMapping> = {
  usage: { http: 400, type: "InvalidArgumentError", restCode: "invalid_argument", exit: 2 },
  invalid_argument: { http: 400, type: "InvalidArgumentError", restCode: "invalid_argument", exit: 1 },
  not_found: { http: 404, type: "NotFoundError", restCode: "not_found", exit: 1 },
  missing_dependency: { http: 503, type: "EngineError", restCode: "engine_unavailable", exit: 1 },
  vmm_failed: { http: 503, type: "EngineError", restCode: "engine_unavailable", exit: 1 },
  guest_timeout: { http: 504, type: "TimeoutError", restCode: "timeout", exit: 1 },
  protocol: { http: 503, type: "UpstreamUnavailableError", restCode: "upstream_unavailable", exit: 1 },
  disk: { http: 500, type: "StorageError", restCode: "storage_error", exit: 1 },
  unsupported: { http: 400, type: "UnsupportedError", restCode: "unsupported", exit: 1 },
  conflict: { http: 409, type: "InvalidStateError", restCode: "invalid_state", exit: 1 },
  already_exists: { http: 409, type: "AlreadyExistsError", restCode: "already_exists", exit: 1 },
  session_reaped: { http: 410, type: "SessionReapedError", restCode: "session_reaped", exit: 1 },
  database: { http: 500, type: "DatabaseError", restCode: "database_error", exit: 1 },
  busy: { http: 409, type: "InvalidStateError", restCode: "invalid_state", exit: 1 },
  // A pull that finds no image is the reference's ImageError too, not a 404 of the route.
  image_not_found: { http: 422, type: "ImageError", restCode: "image_pull_failed", exit: 1 },
  registry: { http: 422, type: "ImageError", restCode: "image_pull_failed", exit: 1 },
  unauthorized: { http: 422, type: "ImageError", restCode: "image_pull_failed", exit: 1 },
  internal: { http: 500, type: "InternalError", restCode: "internal", exit: 1 },
};

export class BoxliteError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "BoxliteError";
  }
}

export function isBoxliteError(value: unknown): value is BoxliteError {
  return value instanceof BoxliteError;
}

/** Wraps anything thrown by foreign code; a BoxliteError passes through unchanged. */
export function wrapError(code: ErrorCode, message: string, cause: unknown): BoxliteError {
  if (cause instanceof BoxliteError) return cause;
  const detail = cause instanceof Error ? cause.message : String(cause);
  return new BoxliteError(code, `${message}: ${detail}`, { cause });
}

/**
 * The code of a REST error envelope (its HTTP status, and `code`), for a client that
 * should fail as the local runtime would: the first ErrorCode ERROR_TABLE maps there, never
 * `usage` (a server's refusal is not a mistake on this command line); by status otherwise.
 */
export function errorCodeFromRest(status: number, restCode: string | undefined): ErrorCode {
  for (const [code, mapping] of Object.entries(ERROR_TABLE) as Array<[ErrorCode, ErrorMapping]>) {
    if (code !== "usage" && mapping.http === status && mapping.restCode === restCode) return code;
  }
  if (status === 401 || status === 403) return "unauthorized";
  if (status === 404) return "not_found";
  if (status === 409) return "conflict";
  if (status >= 500) return "internal";
  return "invalid_argument";
}
