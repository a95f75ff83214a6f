/**
 * An OCI distribution v2 client over `fetch` (opencontainers/distribution-spec spec.md):
 * manifests and blobs of one registry, with Basic and token auth, retries of transient
 * failures, and errors that say what to fix.
 */
import { BoxliteError } from "../../util/errors.ts";
import { MANIFEST_ACCEPT } from "../oci.ts";
import { type AuthChallenge, basicAuthorization, type Credentials, parseWwwAuthenticate, tokenKey, tokenOf, tokenUrl } from "./auth.ts";
import { canonicalHost, dockerCredentials, type RegistrySettings } from "./settings.ts";

/** How a RegistryClient finds credentials and retries. */
export interface RegistryClientOptions {
  /** Docker's config.json, searched for credentials when the settings hold none. */
  dockerConfigPath?: string;
  /** The config file the settings came from; only named in error messages. */
  configFile?: string;
  /** Tries per request for network errors, 5xx and 429 (default 3). */
  attempts?: number;
  /** The first retry's delay; each next one doubles (default 200 ms). */
  backoffMs?: number;
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_MANIFEST_BYTES = 4 << 20; // as containerd: a manifest is small, a huge one is an attack
const MAX_REDIRECTS = 5;
const TLS_CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME_MISMATCH/;

type Found = { credentials: Credentials; source: string } | undefined;

/** Talks to one registry. Tokens are cached for the client's life, per (realm, service, scope). */
export class RegistryClient {
  private readonly origin: string;
  private readonly attempts: number;
  private readonly backoffMs: number;
  private readonly tokens = new Map<string, Promise<string>>();
  /** The Authorization that last worked per repository, sent up front to skip a 401 round trip. */
  private readonly working = new Map<string, string>();
  private found: Found | null = null;

  constructor(
    readonly settings: RegistrySettings,
    private readonly options: RegistryClientOptions = {},
  ) {
    // Docker Hub's API lives at registry-1.docker.io, whatever name the user gave it.
    const host = canonicalHost(settings.host) === "docker.io" ? "registry-1.docker.io" : settings.host;
    this.origin = `${settings.transport}://${host}`;
    this.attempts = Math.max(1, options.attempts ?? 3);
    this.backoffMs = options.backoffMs ?? 200;
  }

  /**
   * GET /v2/<repo>/manifests/<tag|digest> with MANIFEST_ACCEPT. Returns the raw bytes, the
   * Content-Type (without parameters) and the sha256 digest of the bytes; when
   * `reference` is a digest the bytes must hash to it (else BoxliteError "registry").
   */
  async getManifest(repository: string, reference: string): Promise<{ digest: string; mediaType: string; bytes: Uint8Array }> {
    const what = `${this.settings.host}/${repository}${DIGEST.test(reference) ? "@" : ":"}${reference}`;
    const response = await this.send(repository, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT }, what);
    if (!response.ok) throw await this.failure(response, what, `image ${what} was not found on ${this.settings.host}`);
    const bytes = await this.readManifest(response, what);
    const digest = `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
    const claimed = response.headers.get("docker-content-digest");
    const expected = DIGEST.test(reference) ? reference : claimed?.startsWith("sha256:") ? claimed : undefined;
    if (expected !== undefined && expected !== digest) {
      throw new BoxliteError(
        "registry",
        `registry ${this.settings.host} sent a manifest for ${what} whose digest is ${digest}, not ${expected}: the registry or something between is corrupting data`,
      );
    }
    const mediaType = (response.headers.get("content-type") ?? "").split(";")[0]?.trim() ?? "";
    return { digest, mediaType, bytes };
  }

  /**
   * GET /v2/<repo>/blobs/<digest>, following redirects (credentials are never sent to
   * another origin). With `offset` > 0 it asks for `Range: bytes=<offset>-`; `offset` in
   * the result is where the body really starts (0 when the server ignored the range).
   * `size` is the whole blob's size when the server says (Content-Length of a 200, the
   * total of a 206's Content-Range). The caller hashes and verifies; a body that breaks
   * off errors with BoxliteError "registry".
   */
  async getBlob(
    repository: string,
    digest: string,
    options: { offset?: number; signal?: AbortSignal } = {},
  ): Promise<{ body: ReadableStream<Uint8Array>; size: number | undefined; offset: number }> {
    const what = `blob ${digest} of ${this.settings.host}/${repository}`;
    const headers: Record<string, string> = { "accept-encoding": "identity" };
    const wanted = options.offset ?? 0;
    if (wanted > 0) headers.range = `bytes=${wanted}-`;
    let response = await this.send(repository, `/v2/${repository}/blobs/${digest}`, headers, what, options.signal);
    if (response.status === 416 && wanted > 0) {
      // The offset is past the end (the blob changed, or the partial file is wrong): start over.
      await discardBody(response);
      delete headers.range;
      response = await this.send(repository, `/v2/${repository}/blobs/${digest}`, headers, what, options.signal);
    }
    if (!response.ok) throw await this.failure(response, what, `${what} was not found`);
    const length = response.headers.get("content-encoding") ? undefined : numberOrUndefined(response.headers.get("content-length"));
    let offset = 0;
    let size = length;
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
    if (response.status === 206 && range) {
      offset = Number(range[1]);
      size = range[2] === "*" ? (length === undefined ? undefined : offset + length) : Number(range[2]);
    }
    return { body: this.guardBody(response.body ?? new Blob([]).stream(), length, what, options.signal), size, offset };
  }

  /** GET with auth and retries. 401 and 403 end here, as "unauthorized"; other statuses are the caller's. */
  private async send(repository: string, path: string, headers: Record<string, string>, what: string, signal?: AbortSignal): Promise<Response> {
    const configured = this.settings.auth;
    let authorization = this.working.get(repository) ?? (configured?.type === "bearer" ? `Bearer ${configured.token}` : undefined);
    if (authorization === undefined && configured?.type === "basic") authorization = basicAuthorization(configured);
    let freshToken = false;
    for (;;) {
      const response = await this.fetchRetrying(`${this.origin}${path}`, { ...headers, ...(authorization ? { authorization } : {}) }, signal);
      if (response.status !== 401 && response.status !== 403) {
        if (authorization) this.working.set(repository, authorization);
        return response;
      }
      this.working.delete(repository);
      const challenges = parseWwwAuthenticate(response.headers.get("www-authenticate") ?? "");
      const bearer = challenges.find((challenge) => challenge.scheme === "bearer");
      // The challenge's error (RFC 6750 §3: insufficient_scope, invalid_token) says why a token was not enough.
      const detail = `${await errorDetail(response)}${bearer?.params.error ? `; ${bearer.params.error}` : ""}`;
      const sentBasic = authorization?.startsWith("Basic ") ?? false;
      // A 403, or a refused static token, cannot be fixed by asking again.
      const sentCredentials = sentBasic || configured?.type === "bearer" || (authorization !== undefined && this.credentials() !== undefined);
      if (response.status === 403 || configured?.type === "bearer") throw this.unauthorized(what, detail, sentCredentials);
      if (bearer) {
        // A token fetched for this very request and refused is final.
        if (freshToken) throw this.unauthorized(what, detail, this.credentials() !== undefined);
        const scope = `repository:${repository}:pull`;
        const key = tokenKey(bearer, scope);
        // A refused cached token may have expired: fetch a new one, once.
        if (authorization?.startsWith("Bearer ")) this.tokens.delete(key);
        let pending = this.tokens.get(key);
        if (!pending) {
          const request = this.requestToken(bearer, scope, what);
          request.catch(() => this.tokens.get(key) === request && this.tokens.delete(key));
          this.tokens.set(key, request);
          pending = request;
          freshToken = true;
        }
        authorization = `Bearer ${await pending}`;
        continue;
      }
      if (!challenges.some((challenge) => challenge.scheme === "basic")) {
        throw new BoxliteError(
          "unauthorized",
          `registry ${this.settings.host} asks for ${challenges.map((c) => c.scheme).join(", ") || "an unknown kind of"} authentication for ${what}, which boxlite does not support (${detail})`,
        );
      }
      const found = this.credentials();
      if (!found || sentBasic) throw this.unauthorized(what, detail, sentBasic);
      authorization = basicAuthorization(found.credentials);
    }
  }

  /** Asks the token service of a bearer challenge for a pull token, with Basic credentials when we have some. */
  private async requestToken(challenge: AuthChallenge, scope: string, what: string): Promise<string> {
    const url = tokenUrl(challenge, scope);
    if (!url)
      throw new BoxliteError(
        "registry",
        `registry ${this.settings.host} sent a bearer challenge without a usable realm (${JSON.stringify(challenge.params.realm ?? "")}) for ${what}`,
      );
    const found = this.credentials();
    const response = await this.fetchRetrying(url.href, found ? { authorization: basicAuthorization(found.credentials) } : {});
    if (response.status === 401 || response.status === 403)
      throw this.unauthorized(what, `token service ${url.origin}${url.pathname}: ${await errorDetail(response)}`, found !== undefined);
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const token = response.ok ? tokenOf(body) : undefined;
    if (!token)
      throw new BoxliteError(
        "registry",
        `token service ${url.origin}${url.pathname} of registry ${this.settings.host} answered ${response.status} without a token for ${what}: ${text.slice(0, 200)}`,
      );
    return token;
  }

  /** Credentials from the settings, else from Docker's config.json; looked up once. */
  private credentials(): Found {
    if (this.found !== null) return this.found;
    const configured = this.settings.auth;
    if (configured?.type === "basic") this.found = { credentials: configured, source: `image_registries in ${this.options.configFile ?? "the settings"}` };
    else if (configured?.type === "anonymous" || !this.options.dockerConfigPath) this.found = undefined;
    else {
      const credentials = dockerCredentials(this.settings.host, this.options.dockerConfigPath);
      this.found = credentials ? { credentials, source: this.options.dockerConfigPath } : undefined;
    }
    return this.found;
  }

  private unauthorized(what: string, detail: string, credentialsSent: boolean): BoxliteError {
    const host = this.settings.host;
    const configured = this.settings.auth;
    const file = this.options.configFile;
    let advice: string;
    if (configured?.type === "anonymous")
      advice = `${host} is configured with auth type "anonymous"${file ? ` in ${file}` : ""}; give it basic or bearer credentials`;
    else if (configured?.type === "bearer") advice = `the bearer token configured for ${host}${file ? ` in ${file}` : ""} was refused; replace it`;
    else if (credentialsSent)
      advice = `the credentials for ${host} from ${this.found?.source ?? "the settings"} were refused or do not allow pulling it; check the username, the password and the repository name`;
    else {
      const looked = [file ? `the image_registries of ${file}` : "", this.options.dockerConfigPath ?? ""].filter((place) => place !== "");
      const where = looked.length > 0 ? `looked in ${looked.join(" and ")}` : "no config file or docker config.json was given";
      advice = `no credentials for ${host} were found (${where}); add an auth entry for ${host} to image_registries in the config file (--config) or run \`docker login ${host}\`, and check that the repository exists`;
    }
    return new BoxliteError("unauthorized", `registry ${host} refused access to ${what} (${detail}): ${advice}`);
  }

  /** One GET, following redirects and retrying network errors, 5xx and 429 with a doubling backoff. */
  private async fetchRetrying(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
    for (let attempt = 1; ; attempt++) {
      let response: Response;
      try {
        response = await this.fetchFollowing(new URL(url), new Headers(headers), signal);
      } catch (error) {
        if (signal?.aborted || error instanceof BoxliteError) throw error;
        const code = (error as { code?: unknown }).code;
        if (typeof code === "string" && TLS_CERT_ERROR.test(code)) throw this.tlsError(url, error, code);
        if (code === "EPROTO")
          throw this.networkError(
            url,
            error,
            attempt,
            `the TLS handshake failed: if ${this.settings.host} speaks plain HTTP, set its transport to "http" in image_registries`,
          );
        if (attempt >= this.attempts)
          throw this.networkError(
            url,
            error,
            attempt,
            `check that the registry is running and reachable and that its transport (${this.settings.transport}) is right`,
          );
        await Bun.sleep(this.backoffMs * 2 ** (attempt - 1));
        signal?.throwIfAborted();
        continue;
      }
      if ((response.status < 500 && response.status !== 429) || attempt >= this.attempts) return response;
      await discardBody(response);
      // Honour a short Retry-After; a long one is not worth blocking a pull for.
      const retryAfter = Math.min(10_000, (numberOrUndefined(response.headers.get("retry-after")) ?? 0) * 1000);
      await Bun.sleep(Math.max(retryAfter, this.backoffMs * 2 ** (attempt - 1)));
      signal?.throwIfAborted();
    }
  }

  private async fetchFollowing(url: URL, headers: Headers, signal?: AbortSignal): Promise<Response> {
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      // skip_verify is for the configured registry only, not for hosts it redirects to.
      const tls = this.settings.skipVerify && current.host === new URL(this.origin).host ? { rejectUnauthorized: false } : undefined;
      const response = await fetch(current, { headers, redirect: "manual", signal, tls });
      const location = response.headers.get("location");
      if (![301, 302, 303, 307, 308].includes(response.status) || !location) return response;
      await discardBody(response);
      const next = new URL(location, current);
      // Blob storage (S3, a CDN) must never see the registry's credentials.
      if (next.origin !== current.origin) headers.delete("authorization");
      current = next;
    }
    throw new BoxliteError("registry", `registry ${this.settings.host} redirected ${url.href} more than ${MAX_REDIRECTS} times`);
  }

  private tlsError(url: string, error: unknown, code: string): BoxliteError {
    return new BoxliteError(
      "registry",
      `registry ${this.settings.host} (${url}): its TLS certificate was not accepted (${code}: ${(error as Error).message}); if this is a registry you trust with a self-signed certificate, set "skip_verify": true for it in image_registries`,
      { cause: error },
    );
  }

  private networkError(url: string, error: unknown, attempts: number, advice: string): BoxliteError {
    return new BoxliteError(
      "registry",
      `registry ${this.settings.host} could not be reached (GET ${url}, ${attempts} attempt${attempts === 1 ? "" : "s"}): ${(error as Error).message}; ${advice}`,
      { cause: error },
    );
  }

  /** The error for a non-2xx answer (401/403 were handled by send). */
  private async failure(response: Response, what: string, notFound: string): Promise<BoxliteError> {
    const detail = await errorDetail(response);
    if (response.status === 404) return new BoxliteError("image_not_found", `${notFound} (${detail})`);
    const hint = /HTTP request to an HTTPS server/i.test(detail)
      ? `; ${this.settings.host} speaks HTTPS: set its transport to "https"`
      : response.status >= 500 || response.status === 429
        ? `; gave up after ${this.attempts} attempts, try again later`
        : "";
    return new BoxliteError("registry", `registry ${this.settings.host} failed on ${what}: ${detail}${hint}`);
  }

  private async readManifest(response: Response, what: string): Promise<Uint8Array> {
    const chunks: Uint8Array[] = [];
    let total = 0;
    try {
      for await (const chunk of response.body ?? new ReadableStream<Uint8Array>()) {
        total += chunk.length;
        if (total > MAX_MANIFEST_BYTES)
          throw new BoxliteError("registry", `registry ${this.settings.host} sent a manifest for ${what} larger than ${MAX_MANIFEST_BYTES} bytes`);
        chunks.push(chunk);
      }
    } catch (error) {
      if (error instanceof BoxliteError) throw error;
      throw new BoxliteError("registry", `registry ${this.settings.host} broke off the manifest of ${what}: ${(error as Error).message}`, { cause: error });
    }
    return Buffer.concat(chunks);
  }

  /** Passes the body through, turning a connection that breaks off into a BoxliteError. */
  private guardBody(body: ReadableStream<Uint8Array>, expected: number | undefined, what: string, signal?: AbortSignal): ReadableStream<Uint8Array> {
    const reader = body.getReader();
    let received = 0;
    const brokeOff = (cause: unknown) =>
      signal?.aborted
        ? cause
        : new BoxliteError(
            "registry",
            `registry ${this.settings.host} broke off ${what} after ${received} bytes: ${(cause as Error).message}; the download can resume from there`,
            { cause },
          );
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (error) {
          controller.error(brokeOff(error));
          return;
        }
        if (!chunk.done) {
          received += chunk.value.length;
          controller.enqueue(chunk.value);
        } else if (expected !== undefined && received !== expected) controller.error(brokeOff(new Error(`the body ended at ${received} of ${expected} bytes`)));
        else controller.close();
      },
      cancel: (reason) => reader.cancel(reason),
    });
  }
}

/** Drops a body we do not read; a connection that resets meanwhile is no failure of ours. */
async function discardBody(response: Response): Promise<void> {
  await response.body?.cancel().catch(() => undefined);
}

function numberOrUndefined(text: string | null): number | undefined {
  if (text === null || !/^\d+$/.test(text.trim())) return undefined;
  return Number(text);
}

/** `404 Not Found: MANIFEST_UNKNOWN: manifest unknown`, from a distribution error body (`{"errors":[{code,message}]}`) when there is one. */
async function errorDetail(response: Response): Promise<string> {
  const text = (await response.text().catch(() => "")).slice(0, 4096);
  const status = `${response.status}${response.statusText ? ` ${response.statusText}` : ""}`;
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ code?: unknown; message?: unknown }> };
    const errors = (parsed.errors ?? [])
      .map((error) => [error.code, error.message].filter((part) => typeof part === "string" && part !== "").join(": "))
      .filter((line) => line !== "");
    if (errors.length > 0) return `${status}: ${errors.join("; ")}`;
  } catch {
    // Not JSON: fall back to the text.
  }
  const plain = text.trim().replace(/\s+/g, " ").slice(0, 200);
  return plain ? `${status}: ${plain}` : status;
}
