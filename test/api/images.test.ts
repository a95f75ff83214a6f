/** Image routes in-process, pulling from a real registry on 127.0.0.1 (test/helpers/registry.ts). */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { busyboxLayer, writeOciImage } from "../helpers/oci-image.ts";
import { type Registry, startRegistry } from "../helpers/registry.ts";
import { TempDirs } from "../helpers/temp.ts";
import type { Static } from "@sinclair/typebox";
import type { ImageInfo } from "../../src/api/schemas/images.ts";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, executions } = makeApp();
const temp = new TempDirs();
let registry: Registry;

type WireImage = Static<typeof ImageInfo>;

beforeAll(async () => {
  const layout = temp.make("boxlite-api-image-");
  writeOciImage(layout, "v1", { layers: [busyboxLayer(), { entries: [{ path: "hello.txt", data: "hi\n" }] }], config: { Cmd: ["cat", "/hello.txt"] } });
  registry = await startRegistry();
  await registry.push(layout, "api/hello", "v1");
});

afterAll(async () => {
  await executions.close();
  await registry.stop();
  temp.removeAll();
});

test("POST /v1/images/pull pulls an image and answers its ImageInfo; GET /v1/images then lists it", async () => {
  const reference = `${registry.host}/api/hello:v1`;
  const pulled = await call(app, "POST", "/v1/images/pull", { body: { reference } });
  expect(pulled.status).toBe(200);
  const image = pulled.json as WireImage;
  expect(image).toMatchObject({ reference, repository: `${registry.host}/api/hello`, tag: "v1" });
  expect(image.id).toMatch(/^sha256:[0-9a-f]{64}$/);
  expect(image.size_bytes).toBeGreaterThan(0);
  expect(Number.isNaN(Date.parse(image.cached_at))).toBe(false);
  const listed = (await call(app, "GET", "/v1/images")).json as { images: WireImage[] };
  expect(listed.images).toContainEqual(image);
  // Again: answered from the cache, the same image.
  expect((await call(app, "POST", "/v1/images/pull", { body: { reference } })).json).toEqual(image);
});

test("GET and HEAD /v1/images/{id} find a cached image by manifest digest", async () => {
  const listed = (await call(app, "GET", "/v1/images")).json as { images: WireImage[] };
  const image = listed.images[0] as WireImage;
  expect((await call(app, "GET", `/v1/images/${image.id}`)).json).toEqual(image);
  expect((await call(app, "HEAD", `/v1/images/${image.id}`)).status).toBe(204);
  expect((await call(app, "HEAD", `/v1/images/sha256:${"0".repeat(64)}`)).status).toBe(404);
  // A reference holds slashes: encoded, it is one path segment.
  expect((await call(app, "GET", `/v1/images/${encodeURIComponent(image.reference)}`)).json).toEqual(image);
});

test("a pull of a tag the registry does not have is the reference's 422 ImageError; a malformed reference is 400", async () => {
  const missing = await call(app, "POST", "/v1/images/pull", { body: { reference: `${registry.host}/api/hello:nope` } });
  expect(missing.status).toBe(422);
  expect(envelopeOf(missing)).toMatchObject({ type: "ImageError", code: "image_pull_failed" });
  expect(envelopeOf(missing).message).toContain("api/hello:nope");
  const malformed = await call(app, "POST", "/v1/images/pull", { body: { reference: "UPPER/Case!" } });
  expect(malformed.status).toBe(400);
  expect(envelopeOf(malformed).code).toBe("invalid_argument");
  expect((await call(app, "POST", "/v1/images/pull", { body: { reference: "" } })).status).toBe(400);
  expect((await call(app, "POST", "/v1/images/pull", { body: { ref: "alpine" } })).status).toBe(400);
});

test("GET /v1/images pages with pageSize", async () => {
  const page = (await call(app, "GET", "/v1/images?pageSize=1")).json as { images: WireImage[]; next_page_token?: string };
  expect(page.images.length).toBe(1);
  expect((await call(app, "GET", "/v1/images?pageSize=1001")).status).toBe(400);
});
