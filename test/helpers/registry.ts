/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on
 * 127.0.0.1 at a free port, storing into a temp dir, optionally behind htpasswd basic
 * auth, or behind token auth served by a small token service in the test process
 * (`token: true`), optionally over TLS with a self-signed certificate (`tls: true`).
 * Images are pushed with `skopeo` from OCI layouts (see oci-image.ts). The registry's
 * access log counts requests, so a test can assert that a cached run made none.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /** Basic auth (htpasswd), or the users of the token service with `token`. */
  credentials?: RegistryCredentials;
  /** Token auth (distribution's `auth: token`): anonymous tokens grant nothing; needs `credentials`. */
  token?: boolean;
  /** Serve HTTPS with a self-signed certificate for 127.0.0.1. */
  tls?: boolean;
}

/** One answer of the token service. */
export interface TokenRequest {
  /** The requested scopes (`repository:NAME:pull`). */
  scopes: string[];
  /** The Basic user, undefined when anonymous. */
  user?: string;
  status: number;
}

export interface Registry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  host: string;
  transport: "https" | "http";
  credentials?: RegistryCredentials;
  /** What the token service answered so far (empty without `token`). */
  tokenRequests: TokenRequest[];
  /** The registry's storage (`docker/registry/v2/blobs/sha256/<2 hex>/<hex>/data`), for tests that damage blobs. */
  dataDir: string;
  /**
   * Requests the registry has answered so far, in order (`GET /v2/…`), from its access
   * log. The log is written asynchronously, so this sends a marker request and waits
   * until the marker shows up: everything before it is then in.
   */
  requests(): Promise<string[]>;
  /** Pushes the OCI layout `dir` (its `tag`, or the whole index with `all`) to `repository:tag`. */
  push(dir: string, repository: string, tag: string, options?: { all?: boolean; layoutTag?: string; format?: "oci" | "v2s2" }): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

function configYaml(root: string, port: number, auth: string, tls: string): string {
  return `version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: ${join(root, "data")}
  delete:
    enabled: true
http:
  addr: 127.0.0.1:${port}
${tls}${auth}`;
}

/** Waits until `GET /v2/` answers (200 or 401 with auth). */
async function waitReady(origin: string, proc: Bun.Subprocess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}: ${log()}`);
    try {
      const response = await fetch(`${origin}/v2/`, { tls: { rejectUnauthorized: false } });
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await Bun.sleep(50);
  }
  throw new Error(`docker-registry did not answer on ${origin}: ${log()}`);
}

export async function startRegistry(options: RegistryOptions = {}): Promise<Registry> {
  const root = mkdtempSync(join(tmpdir(), "boxlite-registry-"));
  let auth = "";
  let tokenService: TokenService | undefined;
  if (options.token) {
    if (!options.credentials) throw new Error("a token registry needs credentials");
    tokenService = await startTokenService(root, options.credentials);
    auth = `auth:\n  token:\n    realm: ${tokenService.realm}\n    service: ${TOKEN_SERVICE}\n    issuer: ${TOKEN_ISSUER}\n    rootcertbundle: ${tokenService.certPath}\n`;
  } else if (options.credentials) {
    const htpasswdPath = join(root, "htpasswd");
    auth = `auth:\n  htpasswd:\n    realm: boxlite-test\n    path: ${htpasswdPath}\n`;
    // distribution accepts only bcrypt entries.
    const hash = await Bun.password.hash(options.credentials.password, { algorithm: "bcrypt", cost: 4 });
    writeFileSync(htpasswdPath, `${options.credentials.username}:${hash}\n`);
  }
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const transport = options.tls ? "https" : "http";
  const origin = `${transport}://${host}`;
  let tls = "";
  if (options.tls) {
    const cert = selfSignedCertificate(root, "tls");
    tls = `  tls:\n    certificate: ${cert.certPath}\n    key: ${cert.keyPath}\n`;
  }
  writeFileSync(join(root, "config.yml"), configYaml(root, port, auth, tls));
  const proc = Bun.spawn(["docker-registry", "serve", join(root, "config.yml")], { stdout: "pipe", stderr: "pipe" });
  let logText = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) logText += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  await waitReady(origin, proc, () => logText);
  let markers = 0;
  const requests = async (): Promise<string[]> => {
    const marker = `/v2/boxlite-test-marker-${++markers}/tags/list`;
    await fetch(`${origin}${marker}`, { tls: { rejectUnauthorized: false } }).then((response) => response.arrayBuffer());
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const lines = accessLines(logText);
      const at = lines.indexOf(`GET ${marker}`);
      if (at >= 0) return lines.slice(0, at).filter((line) => !line.includes("/boxlite-test-marker-"));
      await Bun.sleep(20);
    }
    throw new Error(`docker-registry never logged ${marker}: ${logText}`);
  };
  // Readiness probes are not the test's requests.
  const probes = (await requests()).length;
  return {
    host,
    transport,
    credentials: options.credentials,
    tokenRequests: tokenService?.requests ?? [],
    dataDir: join(root, "data"),
    requests: async () => (await requests()).slice(probes),
    async push(dir, repository, tag, pushOptions = {}) {
      // Converting to Docker schema 2 changes the digests, so they are kept only for OCI.
      const args = ["skopeo", "copy", "-q", "--dest-tls-verify=false", ...(pushOptions.format === "v2s2" ? ["--format", "v2s2"] : ["--preserve-digests"])];
      if (pushOptions.all) args.push("--all");
      if (options.credentials) args.push("--dest-creds", `${options.credentials.username}:${options.credentials.password}`);
      args.push(`oci:${dir}:${pushOptions.layoutTag ?? tag}`, `docker://${host}/${repository}:${tag}`);
      // Not spawnSync: the token service runs in this process and must keep answering.
      const child = Bun.spawn(args, { stdout: "pipe", stderr: "pipe" });
      const [exitCode, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
      if (exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${stderr}`);
    },
    async stop() {
      proc.kill();
      await proc.exited;
      await drained;
      tokenService?.server.stop(true);
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** The access log's request lines: `"GET /v2/ HTTP/1.1" 200`, as `GET /v2/`. */
function accessLines(log: string): string[] {
  const lines: string[] = [];
  for (const match of log.matchAll(/"(GET|HEAD|POST|PUT|PATCH|DELETE) (\S+) HTTP\/[\d.]+"/g)) lines.push(`${match[1]} ${match[2]}`);
  return lines;
}

/** A P-256 key and a self-signed certificate for 127.0.0.1 (TLS, and the token signer), made with openssl. */
function selfSignedCertificate(root: string, name: string): { certPath: string; keyPath: string } {
  const certPath = join(root, `${name}-cert.pem`);
  const keyPath = join(root, `${name}-key.pem`);
  const args = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", keyPath, "-out", certPath];
  args.push("-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1");
  const result = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr.toString()}`);
  return { certPath, keyPath };
}

const TOKEN_SERVICE = "boxlite-test-registry";
const TOKEN_ISSUER = "boxlite-test-token-service";

interface TokenService {
  realm: string;
  certPath: string;
  requests: TokenRequest[];
  server: ReturnType<typeof Bun.serve>;
}

const base64url = (bytes: Uint8Array | string) => Buffer.from(bytes).toString("base64url");

/**
 * The token service distribution 2.8 trusts (registry/auth/token): an ES256 JWT whose
 * header carries the signing certificate (`x5c`), which must chain to `rootcertbundle`;
 * `iss` and `aud` must match the registry's issuer and service; `access` lists what
 * may be done. Right Basic credentials get every action asked for; anonymous requests
 * get a token that allows nothing (as Docker Hub does); wrong ones get 401.
 */
async function startTokenService(root: string, credentials: RegistryCredentials): Promise<TokenService> {
  const { certPath, keyPath } = selfSignedCertificate(root, "token");
  const pemBody = (pem: string) => Buffer.from(pem.replace(/-----[A-Z ]+-----/g, "").replace(/\s+/g, ""), "base64");
  const key = await crypto.subtle.importKey("pkcs8", pemBody(await Bun.file(keyPath).text()), { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
  const x5c = pemBody(await Bun.file(certPath).text()).toString("base64");
  const requests: TokenRequest[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const url = new URL(request.url);
      const scopes = url.searchParams.getAll("scope");
      const header = request.headers.get("authorization");
      const [user, password] = header?.startsWith("Basic ") ? Buffer.from(header.slice(6), "base64").toString().split(/:(.*)/s) : [];
      const answer = (status: number, body: unknown) => {
        requests.push({ scopes, user, status });
        return Response.json(body, { status });
      };
      if (user !== undefined && (user !== credentials.username || password !== credentials.password)) {
        return answer(401, { errors: [{ code: "UNAUTHORIZED", message: "wrong username or password" }] });
      }
      const access =
        user === undefined
          ? []
          : scopes.map((scope) => {
              const [type, name, actions] = [
                scope.slice(0, scope.indexOf(":")),
                scope.slice(scope.indexOf(":") + 1, scope.lastIndexOf(":")),
                scope.slice(scope.lastIndexOf(":") + 1),
              ];
              return { type, name, actions: actions.split(",") };
            });
      const now = Math.floor(Date.now() / 1000);
      const claims = { iss: TOKEN_ISSUER, sub: user ?? "", aud: TOKEN_SERVICE, exp: now + 300, nbf: now - 10, iat: now, jti: crypto.randomUUID(), access };
      const signingInput = `${base64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c: [x5c] }))}.${base64url(JSON.stringify(claims))}`;
      // WebCrypto's ECDSA signature is r||s, which is what JWS ES256 wants.
      const signature = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, new TextEncoder().encode(signingInput));
      return answer(200, { token: `${signingInput}.${base64url(new Uint8Array(signature))}`, expires_in: 300 });
    },
  });
  return { realm: `http://127.0.0.1:${server.port}/token`, certPath, requests, server };
}
