/**
 * What a real registry cannot be made to do: redirects to blob storage, 5xx and 429,
 * bodies that break off, corrupt manifests, expiring tokens. Each is a tiny in-process
 * server; the registry behaviour itself is tested against docker-registry in
 * test/image/registry-client.test.ts.
 */
import { afterEach, expect, test } from "bun:test";
import { BoxliteError } from "../../util/errors.ts";
import { RegistryClient } from "./client.ts";
import type { RegistrySettings } from "./settings.ts";
import { rejectionOf } from "../../../test/helpers/errors.ts";

const servers: Array<{ stop(force?: boolean): unknown }> = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.stop(true);
});

/** An HTTP server on 127.0.0.1 that records every request it gets. */
function serve(handler: (request: Request, count: number) => Response | Promise<Response>) {
  // Copies: Bun recycles a request's headers once it is answered.
  const seen: Array<{ url: string; headers: Headers }> = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (request) => handler(request, seen.push({ url: request.url, headers: new Headers(request.headers) })),
  });
  servers.push(server);
  return { host: `127.0.0.1:${server.port}`, port: server.port, seen };
}

const settingsOf = (host: string, extra: Partial<RegistrySettings> = {}): RegistrySettings => ({
  host,
  transport: "http",
  skipVerify: false,
  search: false,
  ...extra,
});
const sha256 = (bytes: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
const registryError = (status: number, code: string, message: string) => Response.json({ errors: [{ code, message }] }, { status });

test("a blob redirected to another host gets the Range but never the registry's credentials", async () => {
  const blob = new TextEncoder().encode("0123456789abcdef");
  const storage = serve((request) => {
    const start = Number(/bytes=(\d+)-/.exec(request.headers.get("range") ?? "")?.[1] ?? 0);
    return new Response(blob.slice(start), { status: 206, headers: { "content-range": `bytes ${start}-${blob.length - 1}/${blob.length}` } });
  });
  // localhost and 127.0.0.1 are different origins, as S3 is to a registry.
  const registry = serve(() => new Response(null, { status: 307, headers: { location: `http://localhost:${storage.port}/bucket/blob?sig=1` } }));
  const client = new RegistryClient(settingsOf(registry.host, { auth: { type: "basic", username: "u", password: "p" } }));
  const result = await client.getBlob("team/app", sha256(blob), { offset: 10 });
  expect(await Bun.readableStreamToText(result.body)).toBe("abcdef");
  expect({ offset: result.offset, size: result.size }).toEqual({ offset: 10, size: 16 });
  expect(registry.seen[0]?.headers.get("authorization")).toBe(`Basic ${btoa("u:p")}`);
  expect(storage.seen[0]?.headers.get("authorization")).toBeNull();
  expect(storage.seen[0]?.headers.get("range")).toBe("bytes=10-");
});

test("a server that ignores the Range sends the whole blob from offset 0; one that refuses it gets asked again from 0", async () => {
  const blob = "whole blob";
  const ignoring = serve(() => new Response(blob));
  const result = await new RegistryClient(settingsOf(ignoring.host)).getBlob("a", sha256(blob), { offset: 4 });
  expect({ offset: result.offset, size: result.size, text: await Bun.readableStreamToText(result.body) }).toEqual({ offset: 0, size: blob.length, text: blob });
  const refusing = serve((request) => (request.headers.has("range") ? new Response(null, { status: 416 }) : new Response(blob)));
  const again = await new RegistryClient(settingsOf(refusing.host)).getBlob("a", sha256(blob), { offset: 99 });
  expect(again.offset).toBe(0);
  expect(refusing.seen.map((request) => request.headers.get("range"))).toEqual(["bytes=99-", null]);
});

test("5xx and 429 are retried with a backoff; other 4xx are not", async () => {
  const flaky = serve((_, count) =>
    count === 1 ? new Response("busy", { status: 503 }) : count === 2 ? new Response("slow down", { status: 429 }) : new Response("ok"),
  );
  const result = await new RegistryClient(settingsOf(flaky.host), { backoffMs: 1 }).getBlob("a", sha256("ok"));
  expect(await Bun.readableStreamToText(result.body)).toBe("ok");
  expect(flaky.seen.length).toBe(3);

  const down = serve(() => registryError(502, "UNAVAILABLE", "backend down"));
  const error = await rejectionOf(new RegistryClient(settingsOf(down.host), { attempts: 2, backoffMs: 1 }).getManifest("a", "v1"));
  expect(down.seen.length).toBe(2);
  expect(error.code).toBe("registry");
  expect(error.message).toBe(
    `registry ${down.host} failed on ${down.host}/a:v1: 502 Bad Gateway: UNAVAILABLE: backend down; gave up after 2 attempts, try again later`,
  );

  const bad = serve(() => registryError(400, "TAG_INVALID", "manifest tag did not match URI"));
  const badError = await rejectionOf(new RegistryClient(settingsOf(bad.host), { backoffMs: 1 }).getManifest("a", "v1"));
  expect(bad.seen.length).toBe(1);
  expect(badError.message).toContain("400 Bad Request: TAG_INVALID: manifest tag did not match URI");
});

test("a blob body that breaks off is a registry error saying how far it got", async () => {
  // A raw socket: promise 10000 bytes, send 1000, hang up.
  const listener = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      data(socket) {
        socket.write(`HTTP/1.1 200 OK\r\ncontent-length: 10000\r\ncontent-type: application/octet-stream\r\n\r\n${"x".repeat(1000)}`);
        // Hang up a moment later: closing at once may reset the connection before the client reads the 1000 bytes.
        setTimeout(() => socket.end(), 50);
      },
    },
  });
  servers.push(listener);
  const result = await new RegistryClient(settingsOf(`127.0.0.1:${listener.port}`)).getBlob("a", sha256(""));
  expect(result.size).toBe(10000);
  const error = await rejectionOf((async () => Bun.readableStreamToBytes(result.body))());
  expect(error.code).toBe("registry");
  expect(error.message).toMatch(
    new RegExp(`^registry 127\\.0\\.0\\.1:${listener.port} broke off blob sha256:[0-9a-f]{64} of 127\\.0\\.0\\.1:${listener.port}/a after 1000 bytes`),
  );
});

test("an aborted download ends with the abort, not a registry error", async () => {
  const registry = serve(
    () => new Response(new ReadableStream({ start: (controller) => controller.enqueue(new Uint8Array(100)) }), { headers: { "content-length": "1000" } }),
  );
  const controller = new AbortController();
  const result = await new RegistryClient(settingsOf(registry.host)).getBlob("a", sha256(""), { signal: controller.signal });
  const reader = result.body.getReader();
  expect((await reader.read()).value?.length).toBe(100);
  controller.abort();
  const error = await reader.read().then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(Error);
  expect(error).not.toBeInstanceOf(BoxliteError);
  expect((error as Error).name).toBe("AbortError");
});

test("a manifest must hash to the digest it was asked by, and to the one the registry claims", async () => {
  const manifest = '{"schemaVersion":2}';
  const registry = serve(
    (request) =>
      new Response(manifest, {
        headers: {
          "content-type": "application/vnd.oci.image.manifest.v1+json; charset=utf-8",
          ...(request.url.endsWith("/claims") ? { "docker-content-digest": sha256("other") } : {}),
        },
      }),
  );
  const client = new RegistryClient(settingsOf(registry.host));
  const wanted = sha256("something else");
  const error = await rejectionOf(client.getManifest("a", wanted));
  expect(error.code).toBe("registry");
  expect(error.message).toContain(`whose digest is ${sha256(manifest)}, not ${wanted}`);
  expect((await rejectionOf(client.getManifest("a", "claims"))).message).toContain(`not ${sha256("other")}`);
  const good = await client.getManifest("a", sha256(manifest));
  expect({ digest: good.digest, mediaType: good.mediaType, text: new TextDecoder().decode(good.bytes) }).toEqual({
    digest: sha256(manifest),
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    text: manifest,
  });
  expect(registry.seen[0]?.headers.get("accept")).toContain("application/vnd.oci.image.index.v1+json");
});

test("a cached token the registry stops accepting is replaced once, and access_token is understood", async () => {
  let issued = 0;
  const tokens = serve((request) => {
    expect(new URL(request.url).searchParams.get("scope")).toBe("repository:team/app:pull");
    return Response.json({ access_token: `t${++issued}` });
  });
  let accepted = "t1";
  const challenge = `Bearer realm="http://${tokens.host}/token",service="svc",scope="repository:team/app:pull"`;
  const registry = serve((request) =>
    request.headers.get("authorization") === `Bearer ${accepted}`
      ? new Response("{}")
      : new Response(null, { status: 401, headers: { "www-authenticate": challenge } }),
  );
  const client = new RegistryClient(settingsOf(registry.host));
  await client.getManifest("team/app", "v1");
  await client.getManifest("team/app", "v1");
  expect(tokens.seen.length).toBe(1);
  accepted = "t2"; // t1 expired
  await client.getManifest("team/app", "v1");
  expect(tokens.seen.length).toBe(2);
  accepted = "never";
  const error = await rejectionOf(client.getManifest("team/app", "v1"));
  expect(error.code).toBe("unauthorized");
  expect(tokens.seen.length).toBe(3);
});

test("an unsupported authentication scheme is named", async () => {
  const registry = serve(() => new Response(null, { status: 401, headers: { "www-authenticate": 'Negotiate realm="x"' } }));
  const error = await rejectionOf(new RegistryClient(settingsOf(registry.host)).getManifest("a", "v1"));
  expect(error.code).toBe("unauthorized");
  expect(error.message).toContain("asks for negotiate authentication");
});
