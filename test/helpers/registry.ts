/**
 * A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8) on
 * 127.0.0.1 at a free port, storing into a temp dir, optionally behind htpasswd basic
 * auth. Images are pushed with `skopeo` from OCI layouts (see oci-image.ts). The
 * registry's access log counts requests, so a test can assert that a cached run made none.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface RegistryCredentials {
  username: string;
  password: string;
}

export interface Registry {
  /** `127.0.0.1:PORT`, the host part of image references. */
  host: string;
  credentials?: RegistryCredentials;
  /**
   * Requests the registry has answered so far, in order (`GET /v2/…`), from its access
   * log. The log is written asynchronously, so this sends a marker request and waits
   * until the marker shows up: everything before it is then in.
   */
  requests(): Promise<string[]>;
  /** Pushes the OCI layout `dir` (its `tag`, or the whole index with `all`) to `repository:tag`. */
  push(dir: string, repository: string, tag: string, options?: { all?: boolean; layoutTag?: string }): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = server.port;
  server.stop(true);
  return port;
}

function configYaml(root: string, port: number, htpasswdPath: string | undefined): string {
  const auth = htpasswdPath ? `auth:\n  htpasswd:\n    realm: boxlite-test\n    path: ${htpasswdPath}\n` : "";
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
${auth}`;
}

/** Waits until `GET /v2/` answers (200 or 401 with auth). */
async function waitReady(host: string, proc: Bun.Subprocess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited ${proc.exitCode}: ${log()}`);
    try {
      const response = await fetch(`http://${host}/v2/`);
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // Not listening yet.
    }
    await Bun.sleep(50);
  }
  throw new Error(`docker-registry did not answer on ${host}: ${log()}`);
}

export async function startRegistry(options: { credentials?: RegistryCredentials } = {}): Promise<Registry> {
  const root = mkdtempSync(join(tmpdir(), "boxlite-registry-"));
  let htpasswdPath: string | undefined;
  if (options.credentials) {
    htpasswdPath = join(root, "htpasswd");
    // distribution accepts only bcrypt entries.
    const hash = await Bun.password.hash(options.credentials.password, { algorithm: "bcrypt", cost: 4 });
    writeFileSync(htpasswdPath, `${options.credentials.username}:${hash}\n`);
  }
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  writeFileSync(join(root, "config.yml"), configYaml(root, port, htpasswdPath));
  const proc = Bun.spawn(["docker-registry", "serve", join(root, "config.yml")], { stdout: "pipe", stderr: "pipe" });
  let logText = "";
  const decoder = new TextDecoder();
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) logText += decoder.decode(chunk, { stream: true });
  };
  const drained = Promise.all([drain(proc.stdout), drain(proc.stderr)]);
  await waitReady(host, proc, () => logText);
  let markers = 0;
  const requests = async (): Promise<string[]> => {
    const marker = `/v2/boxlite-test-marker-${++markers}/tags/list`;
    await fetch(`http://${host}${marker}`).then((response) => response.arrayBuffer());
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
    credentials: options.credentials,
    requests: async () => (await requests()).slice(probes),
    async push(dir, repository, tag, pushOptions = {}) {
      const args = ["skopeo", "copy", "-q", "--dest-tls-verify=false", "--preserve-digests"];
      if (pushOptions.all) args.push("--all");
      if (options.credentials) args.push("--dest-creds", `${options.credentials.username}:${options.credentials.password}`);
      args.push(`oci:${dir}:${pushOptions.layoutTag ?? tag}`, `docker://${host}/${repository}:${tag}`);
      const result = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
      if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr.toString()}`);
    },
    async stop() {
      proc.kill();
      await proc.exited;
      await drained;
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
