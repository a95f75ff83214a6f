/**
 * The registry client against a real registry (Debian's docker-registry, distribution
 * 2.8): anonymous, htpasswd basic auth, token auth with our token service, and TLS with
 * a self-signed certificate. Images are OCI layouts pushed with skopeo.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseManifestDocument } from "../../src/image/oci.ts";
import { RegistryClient, type RegistryClientOptions } from "../../src/image/registry/client.ts";
import type { RegistrySettings } from "../../src/image/registry/settings.ts";
import { busyboxLayer, OCI_INDEX, OCI_MANIFEST, type WrittenImage, writeOciImage, writeOciIndex } from "../helpers/oci-image.ts";
import { type Registry, startRegistry } from "../helpers/registry.ts";
import { rejectionOf } from "../helpers/errors.ts";

const work = mkdtempSync(join(tmpdir(), "boxlite-registry-client-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const layout = join(work, "layout");
let image: WrittenImage;
let index: { index: { digest: string }; images: WrittenImage[] };
beforeAll(() => {
  image = writeOciImage(layout, "v1", { layers: [busyboxLayer(), { entries: [{ path: "marker", data: "hello" }], compression: "none" }] });
  index = writeOciIndex(layout, "multi", [
    { layers: [{ entries: [{ path: "arch", data: "amd64" }] }], architecture: "amd64" },
    { layers: [{ entries: [{ path: "arch", data: "arm64" }] }], architecture: "arm64" },
  ]);
});

const blobFile = (digest: string) => readFileSync(join(layout, "blobs", "sha256", digest.slice("sha256:".length)));
const settingsOf = (registry: Registry, extra: Partial<RegistrySettings> = {}): RegistrySettings => ({
  host: registry.host,
  transport: registry.transport,
  skipVerify: false,
  search: false,
  ...extra,
});
const credentialsFor = (registry: Registry) => registry.credentials as { username: string; password: string };
let configs = 0;
/** A docker config.json holding `auths` for the registry. */
function dockerConfig(registry: Registry, username: string, password: string): string {
  const path = join(work, `docker-config-${++configs}.json`);
  writeFileSync(path, JSON.stringify({ auths: { [registry.host]: { auth: btoa(`${username}:${password}`) } } }));
  return path;
}

/** Pulls the manifest and every blob of `image` and checks them byte for byte against the layout. */
async function pullsExactly(client: RegistryClient, repository: string, tag: string): Promise<void> {
  const manifest = await client.getManifest(repository, tag);
  expect(manifest.digest).toBe(image.manifest.digest);
  expect(manifest.mediaType).toBe(OCI_MANIFEST);
  expect(Buffer.from(manifest.bytes).equals(blobFile(image.manifest.digest))).toBe(true);
  for (const blob of [image.config, ...image.layers]) {
    const result = await client.getBlob(repository, blob.digest);
    expect({ size: result.size, offset: result.offset }).toEqual({ size: blob.size, offset: 0 });
    expect(Buffer.from(await Bun.readableStreamToBytes(result.body)).equals(blobFile(blob.digest))).toBe(true);
  }
}

describe("an anonymous registry", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry();
    await registry.push(layout, "tests/app", "v1");
    await registry.push(layout, "tests/multi", "multi", { all: true });
  });
  afterAll(() => registry.stop());

  test("gives the manifest and every blob byte for byte", async () => {
    await pullsExactly(new RegistryClient(settingsOf(registry)), "tests/app", "v1");
  });

  test("gives a manifest by digest, and refuses nothing it sent", async () => {
    const manifest = await new RegistryClient(settingsOf(registry)).getManifest("tests/app", image.manifest.digest);
    expect(Buffer.from(manifest.bytes).equals(blobFile(image.manifest.digest))).toBe(true);
    expect(manifest.digest).toBe(image.manifest.digest);
  });

  test("gives a multi-platform image as its index, whose entries can be fetched by digest", async () => {
    const client = new RegistryClient(settingsOf(registry));
    const manifest = await client.getManifest("tests/multi", "multi");
    expect({ digest: manifest.digest, mediaType: manifest.mediaType }).toEqual({ digest: index.index.digest, mediaType: OCI_INDEX });
    const document = parseManifestDocument(manifest.bytes, "index", manifest.mediaType);
    if (document.kind !== "index") throw new Error("expected an index");
    expect(document.manifests.map((entry) => entry.platform?.architecture)).toEqual(["amd64", "arm64"]);
    const arm = await client.getManifest("tests/multi", document.manifests[1]?.digest as string);
    expect(arm.digest).toBe(index.images[1]?.manifest.digest as string);
  });

  test("resumes a blob at an offset with a Range request", async () => {
    const layer = image.layers[0] as WrittenImage["layers"][number];
    const result = await new RegistryClient(settingsOf(registry)).getBlob("tests/app", layer.digest, { offset: 1000 });
    expect({ offset: result.offset, size: result.size }).toEqual({ offset: 1000, size: layer.size });
    expect(Buffer.from(await Bun.readableStreamToBytes(result.body)).equals(blobFile(layer.digest).subarray(1000))).toBe(true);
  });

  test("an unknown repository or tag is image_not_found naming the image and the registry", async () => {
    const client = new RegistryClient(settingsOf(registry));
    const tag = await rejectionOf(client.getManifest("tests/app", "v9"));
    expect(tag.code).toBe("image_not_found");
    expect(tag.message).toBe(`image ${registry.host}/tests/app:v9 was not found on ${registry.host} (404 Not Found: MANIFEST_UNKNOWN: manifest unknown)`);
    const repository = await rejectionOf(client.getManifest("tests/nothing", "v1"));
    expect(repository.code).toBe("image_not_found");
    expect(repository.message).toStartWith(`image ${registry.host}/tests/nothing:v1 was not found on ${registry.host} (404 Not Found: `);
    const blob = await rejectionOf(client.getBlob("tests/nothing", image.config.digest));
    expect(blob.code).toBe("image_not_found");
    expect(blob.message).toContain("BLOB_UNKNOWN");
  });

  test("a plain-HTTP registry configured as https is told to set transport http", async () => {
    const error = await rejectionOf(new RegistryClient(settingsOf(registry, { transport: "https" })).getManifest("tests/app", "v1"));
    expect(error.code).toBe("registry");
    expect(error.message).toContain(`registry ${registry.host}`);
    expect(error.message).toContain('set its transport to "http"');
  });
});

test("a stopped registry is a registry error, after the retries", async () => {
  const registry = await startRegistry();
  await registry.stop();
  const client = (options: RegistryClientOptions) =>
    new RegistryClient({ host: registry.host, transport: "http", skipVerify: false, search: false }, { backoffMs: 1, ...options });
  const once = await rejectionOf(client({ attempts: 1 }).getManifest("tests/app", "v1"));
  const twice = await rejectionOf(client({ attempts: 2 }).getManifest("tests/app", "v1"));
  expect(once.code).toBe("registry");
  expect(once.message).toStartWith(
    `registry ${registry.host} could not be reached (GET http://${registry.host}/v2/tests/app/manifests/v1, 1 attempt): ECONNREFUSED`,
  );
  expect(twice.message).toContain(", 2 attempts): ECONNREFUSED");
  expect(twice.message).toContain("check that the registry is running");
});

describe("a registry with basic auth", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry({ credentials: { username: "boxlite", password: "s3cret:with colon" } });
    await registry.push(layout, "tests/app", "v1");
  });
  afterAll(() => registry.stop());

  test("lets the credentials from the settings pull", async () => {
    const { username, password } = credentialsFor(registry);
    await pullsExactly(new RegistryClient(settingsOf(registry, { auth: { type: "basic", username, password } })), "tests/app", "v1");
  });

  test("lets the credentials from a docker config.json pull", async () => {
    const { username, password } = credentialsFor(registry);
    await pullsExactly(new RegistryClient(settingsOf(registry), { dockerConfigPath: dockerConfig(registry, username, password) }), "tests/app", "v1");
  });

  test("refuses wrong credentials, naming the registry and where they came from", async () => {
    const fromSettings = await rejectionOf(
      new RegistryClient(settingsOf(registry, { auth: { type: "basic", username: "boxlite", password: "wrong" } }), {
        configFile: "/etc/boxlite/options.json",
      }).getManifest("tests/app", "v1"),
    );
    expect(fromSettings.code).toBe("unauthorized");
    expect(fromSettings.message).toStartWith(
      `registry ${registry.host} refused access to ${registry.host}/tests/app:v1 (401 Unauthorized: UNAUTHORIZED: authentication required)`,
    );
    expect(fromSettings.message).toContain("from image_registries in /etc/boxlite/options.json were refused");
    const path = dockerConfig(registry, "boxlite", "wrong");
    const fromDocker = await rejectionOf(new RegistryClient(settingsOf(registry), { dockerConfigPath: path }).getManifest("tests/app", "v1"));
    expect(fromDocker.code).toBe("unauthorized");
    expect(fromDocker.message).toContain(`the credentials for ${registry.host} from ${path} were refused`);
  });

  test("without credentials says where it looked", async () => {
    const missing = join(work, "no-such-docker-config.json");
    const error = await rejectionOf(
      new RegistryClient(settingsOf(registry), { configFile: "/etc/boxlite/options.json", dockerConfigPath: missing }).getManifest("tests/app", "v1"),
    );
    expect(error.code).toBe("unauthorized");
    expect(error.message).toContain(
      `no credentials for ${registry.host} were found (looked in the image_registries of /etc/boxlite/options.json and ${missing})`,
    );
    expect(error.message).toContain(`docker login ${registry.host}`);
    const anonymous = await rejectionOf(
      new RegistryClient(settingsOf(registry, { auth: { type: "anonymous" } }), { dockerConfigPath: dockerConfig(registry, "boxlite", "ignored") }).getManifest(
        "tests/app",
        "v1",
      ),
    );
    expect(anonymous.message).toContain('is configured with auth type "anonymous"');
  });
});

describe("a registry with token auth", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry({ credentials: { username: "boxlite", password: "t0ken-pass" }, token: true });
    await registry.push(layout, "tests/app", "v1");
  });
  afterAll(() => registry.stop());

  test("refuses an anonymous pull: the anonymous token allows nothing", async () => {
    const before = registry.tokenRequests.length;
    const error = await rejectionOf(new RegistryClient(settingsOf(registry)).getManifest("tests/app", "v1"));
    expect(error.code).toBe("unauthorized");
    expect(error.message).toContain("insufficient_scope");
    expect(error.message).toContain("no credentials for");
    expect(registry.tokenRequests.slice(before)).toEqual([{ scopes: ["repository:tests/app:pull"], user: undefined, status: 200 }]);
  });

  test("pulls with a token got with the settings' credentials, asking the token service once", async () => {
    const before = registry.tokenRequests.length;
    const { username, password } = credentialsFor(registry);
    const requestsBefore = (await registry.requests()).length;
    await pullsExactly(new RegistryClient(settingsOf(registry, { auth: { type: "basic", username, password } })), "tests/app", "v1");
    expect(registry.tokenRequests.slice(before)).toEqual([{ scopes: ["repository:tests/app:pull"], user: "boxlite", status: 200 }]);
    // One refused first try, then the token goes out up front: no 401 round trip per blob.
    const blobs = [image.config, ...image.layers].map((blob) => `GET /v2/tests/app/blobs/${blob.digest}`);
    expect((await registry.requests()).slice(requestsBefore)).toEqual(["GET /v2/tests/app/manifests/v1", "GET /v2/tests/app/manifests/v1", ...blobs]);
  });

  test("concurrent requests of a new client share one token request", async () => {
    const before = registry.tokenRequests.length;
    const client = new RegistryClient(settingsOf(registry, { auth: { type: "basic", ...credentialsFor(registry) } }));
    const blobs = await Promise.all(
      [image.config, ...image.layers].map((blob) => client.getBlob("tests/app", blob.digest).then((result) => Bun.readableStreamToBytes(result.body))),
    );
    expect(blobs.map((bytes) => bytes.length)).toEqual([image.config, ...image.layers].map((blob) => blob.size));
    expect(registry.tokenRequests.length - before).toBe(1);
  });

  test("pulls with docker config.json credentials; wrong ones are refused by the token service", async () => {
    const { username, password } = credentialsFor(registry);
    await pullsExactly(new RegistryClient(settingsOf(registry), { dockerConfigPath: dockerConfig(registry, username, password) }), "tests/app", "v1");
    const path = dockerConfig(registry, username, "wrong");
    const error = await rejectionOf(new RegistryClient(settingsOf(registry), { dockerConfigPath: path }).getManifest("tests/app", "v1"));
    expect(error.code).toBe("unauthorized");
    expect(error.message).toContain("token service http://127.0.0.1:");
    expect(error.message).toContain(`from ${path} were refused`);
  });
});

describe("a registry over TLS with a self-signed certificate", () => {
  let registry: Registry;
  beforeAll(async () => {
    registry = await startRegistry({ tls: true });
    await registry.push(layout, "tests/app", "v1");
  });
  afterAll(() => registry.stop());

  test("is refused without skip_verify, with the way out in the message", async () => {
    const error = await rejectionOf(new RegistryClient(settingsOf(registry)).getManifest("tests/app", "v1"));
    expect(error.code).toBe("registry");
    expect(error.message).toContain(`registry ${registry.host}`);
    expect(error.message).toContain('set "skip_verify": true');
  });

  test("is pulled from with skip_verify", async () => {
    await pullsExactly(new RegistryClient(settingsOf(registry, { skipVerify: true })), "tests/app", "v1");
  });

  test("configured as http is told to set transport https", async () => {
    const error = await rejectionOf(new RegistryClient(settingsOf(registry, { transport: "http" })).getManifest("tests/app", "v1"));
    expect(error.code).toBe("registry");
    expect(error.message).toContain('set its transport to "https"');
  });
});
