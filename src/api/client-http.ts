/**
 * The REST client's transport: requests under `<url>/v1` with the bearer key, and the
 * server's error envelope turned back into the BoxliteError the local runtime would have
 * thrown (same code, so the CLI exits the same way).
 */
import { BoxliteError, errorCodeFromRest } from "../util/errors.ts";

export interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  body?: RequestInit["body"];
  headers?: Record<string, string>;
}

/** `http(s)://host:port`, with a trailing `/` or `/v1` dropped; anything else is refused. */
export function normalizeServerUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new BoxliteError("usage", `--url ${JSON.stringify(text)} is not a URL; give one such as http://127.0.0.1:8100`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new BoxliteError("usage", `--url ${JSON.stringify(text)} is not http:// or https://`);
  return url.href.replace(/\/+$/, "").replace(/\/v1$/, "");
}

function isEnvelope(value: unknown): value is { error: { message?: unknown; code?: unknown } } {
  return typeof value === "object" && value !== null && "error" in value && typeof value.error === "object" && value.error !== null;
}

export class RestTransport {
  readonly baseUrl: string;

  constructor(
    url: string,
    private readonly apiKey?: string,
  ) {
    this.baseUrl = normalizeServerUrl(url);
  }

  /** The URL of `path` (under /v1), with `query`'s defined values. */
  url(path: string, query: RequestOptions["query"] = {}, scheme: "http" | "ws" = "http"): string {
    const url = new URL(`${this.baseUrl}/v1${path}`);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, String(value));
    if (scheme === "ws") url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.href;
  }

  authHeaders(): Record<string, string> {
    return this.apiKey === undefined ? {} : { Authorization: `Bearer ${this.apiKey}` };
  }

  /** A successful response, or the envelope's error thrown. */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.authHeaders(), ...options.headers };
    let body = options.body;
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    let response: Response;
    try {
      response = await fetch(this.url(path, options.query), { method, headers, body, duplex: "half" } as RequestInit);
    } catch (cause) {
      throw new BoxliteError(
        "invalid_argument",
        `cannot reach the boxlite server at ${this.baseUrl}: ${cause instanceof Error ? cause.message : String(cause)}; is 'boxlite serve' running there?`,
        { cause },
      );
    }
    if (response.ok) return response;
    throw await this.failure(response);
  }

  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return (await (await this.request(method, path, options)).json()) as T;
  }

  private async failure(response: Response): Promise<BoxliteError> {
    const text = await response.text().catch(() => "");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    const error = isEnvelope(parsed) ? parsed.error : undefined;
    const restCode = typeof error?.code === "string" ? error.code : undefined;
    const message = typeof error?.message === "string" ? error.message : `the server answered ${response.status} ${response.statusText}`.trim();
    if (response.status === 401) {
      const hint = this.apiKey === undefined ? "set BOXLITE_API_KEY to the key it was started with" : "BOXLITE_API_KEY is not the key it was started with";
      return new BoxliteError("unauthorized", `the boxlite server at ${this.baseUrl} refused the request (${message}): ${hint}`);
    }
    return new BoxliteError(errorCodeFromRest(response.status, restCode), message);
  }
}
