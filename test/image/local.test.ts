/**
 * Local images end to end: OCI layouts written by the fixtures helper and docker save
 * archives written by skopeo (a real writer), read back through openLocalImage.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type LocalLayer, openLocalImage } from "../../src/image/local.ts";
import { hostPlatform } from "../../src/image/oci.ts";
import { type WriteEntry, writeTar } from "../../src/image/tar-writer.test-helper.ts";
import { busyboxLayer, dockerArchive, type FixtureImage, writeOciImage, writeOciIndex } from "../helpers/oci-image.ts";
import { rejectionOf } from "../helpers/errors.ts";

let work: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-local-"));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array | string) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
const blobFile = (layout: string, digest: string) => join(layout, "blobs", "sha256", digest.slice("sha256:".length));

/** busybox plus a small plain layer, so both gzip and uncompressed blobs are covered. */
function sampleImage(marker = "hello"): FixtureImage {
  return { layers: [busyboxLayer(), { entries: [{ path: "marker", data: marker }], compression: "none" }], config: { Env: ["A=1"], Cmd: ["sh"] } };
}

async function drain(layer: LocalLayer): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of layer.open()) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

/** A docker save archive built member by member, for shapes no real writer produces. */
function handArchive(path: string, manifest: unknown, members: WriteEntry[]): void {
  writeFileSync(path, writeTar([{ path: "manifest.json", data: JSON.stringify(manifest) }, ...members]));
}

const configJson = (diffIds: string[]) => JSON.stringify({ architecture: "amd64", os: "linux", rootfs: { type: "layers", diff_ids: diffIds } });

test("opens an OCI layout by tag: digests, config and layer bytes byte-exact with the blobs", async () => {
  const layout = join(work, "layout");
  const written = writeOciImage(layout, "v1", sampleImage());
  writeOciImage(layout, "v2", sampleImage("other"));
  const image = await openLocalImage({ kind: "oci", path: layout, tag: "v1" });
  expect(image.kind).toBe("oci");
  expect(image.path).toBe(layout);
  expect(image.manifestDigest).toBe(written.manifest.digest);
  expect(image.configDigest).toBe(written.config.digest);
  expect(image.config.run.env).toEqual(["A=1"]);
  expect(image.layers.map((layer) => layer.diffId)).toEqual(written.diffIds);
  expect(image.layers.map((layer) => [layer.digest, layer.size])).toEqual(written.layers.map((blob) => [blob.digest, blob.size]));
  for (const layer of image.layers) expect(await drain(layer)).toEqual(new Uint8Array(readFileSync(blobFile(layout, layer.digest))));
  expect(image.layers[1]?.source).toBe(`oci:${layout}@${written.manifest.digest.slice(0, 19)}… layer 2`);
});

test("opens the only image of a layout when no tag is given", async () => {
  const layout = join(work, "layout");
  const written = writeOciImage(layout, "latest", sampleImage());
  const image = await openLocalImage({ kind: "oci", path: layout });
  expect(image.manifestDigest).toBe(written.manifest.digest);
});

test("an unknown tag, or no tag among several, is refused with the tags present", async () => {
  const layout = join(work, "layout");
  writeOciImage(layout, "v1", sampleImage());
  writeOciImage(layout, "v2", sampleImage("other"));
  const unknown = await rejectionOf(openLocalImage({ kind: "oci", path: layout, tag: "v9" }));
  expect(unknown.code).toBe("image_not_found");
  expect(unknown.message).toContain('"v9" (tags: v1, v2)');
  const ambiguous = await rejectionOf(openLocalImage({ kind: "oci", path: layout }));
  expect(ambiguous.code).toBe("invalid_argument");
  expect(ambiguous.message).toContain("tags: v1, v2");
});

test("a multi-arch index yields this host's manifest (amd64 on an x86-64 host)", async () => {
  const layout = join(work, "layout");
  const arches = ["arm64", "amd64", "s390x"];
  const { images } = writeOciIndex(
    layout,
    "multi",
    arches.map((architecture) => ({ architecture, layers: [{ entries: [{ path: "arch", data: architecture }] }] })),
  );
  const image = await openLocalImage({ kind: "oci", path: layout, tag: "multi" });
  const expected = images[arches.indexOf(hostPlatform().architecture)];
  expect(expected).toBeDefined();
  expect(image.manifestDigest).toBe(expected?.manifest.digest as string);
  expect(image.config.architecture).toBe(hostPlatform().architecture);
});

test("a corrupted layer blob fails its stream with the digest", async () => {
  const layout = join(work, "layout");
  const written = writeOciImage(layout, "v1", sampleImage());
  const digest = written.layers[0]?.digest as string;
  const bytes = readFileSync(blobFile(layout, digest));
  bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
  writeFileSync(blobFile(layout, digest), bytes);
  const image = await openLocalImage({ kind: "oci", path: layout, tag: "v1" });
  const error = await rejectionOf(drain(image.layers[0] as LocalLayer));
  expect(error.code).toBe("invalid_argument");
  expect(error.message).toContain(`not ${digest}`);
});

test("a missing layer blob or a tampered config is refused at open", async () => {
  const layout = join(work, "layout");
  const written = writeOciImage(layout, "v1", sampleImage());
  const configPath = blobFile(layout, written.config.digest);
  writeFileSync(configPath, readFileSync(configPath, "utf8").replace('"A=1"', '"B=1"'));
  const tampered = await rejectionOf(openLocalImage({ kind: "oci", path: layout }));
  expect(tampered.code).toBe("invalid_argument");
  expect(tampered.message).toContain(written.config.digest);
  writeOciImage(layout, "v1", sampleImage());
  unlinkSync(blobFile(layout, written.layers[1]?.digest as string));
  const missing = await rejectionOf(openLocalImage({ kind: "oci", path: layout }));
  expect(missing.code).toBe("not_found");
  expect(missing.message).toContain(`missing the blob ${written.layers[1]?.digest}`);
});

test("paths that are not images are refused with what was expected", async () => {
  const absent = await rejectionOf(openLocalImage({ kind: "auto", path: join(work, "nope") }));
  expect(absent.code).toBe("not_found");
  mkdirSync(join(work, "empty"));
  expect((await rejectionOf(openLocalImage({ kind: "auto", path: join(work, "empty") }))).message).toContain("neither an OCI image layout");
  expect((await rejectionOf(openLocalImage({ kind: "oci", path: join(work, "empty") }))).message).toContain("no oci-layout file");
  writeFileSync(join(work, "text"), "not a tar archive at all, just some words\n".repeat(20));
  const notTar = await rejectionOf(openLocalImage({ kind: "docker-archive", path: join(work, "text") }));
  expect(notTar.message).toContain("is not a tar archive");
  const fileAsLayout = await rejectionOf(openLocalImage({ kind: "oci", path: join(work, "text") }));
  expect(fileAsLayout.message).toContain(`docker-archive:${join(work, "text")}`);
});

test("reads a docker archive written by skopeo, as a tar file and extracted", async () => {
  const layout = join(work, "layout");
  const written = writeOciImage(layout, "v1", sampleImage());
  const archive = join(work, "image.tar");
  dockerArchive(layout, "v1", archive, "example.com/app:v1");
  const fromTar = await openLocalImage({ kind: "auto", path: archive });
  expect(fromTar.kind).toBe("docker-archive");
  expect(fromTar.configDigest).toBe(written.config.digest);
  expect(fromTar.layers.map((layer) => layer.diffId)).toEqual(written.diffIds);
  // skopeo stores layers uncompressed, so each blob is its own diff id.
  const bytes = await Promise.all(fromTar.layers.map(drain));
  expect(bytes.map((layer) => sha256(layer))).toEqual(written.diffIds);
  expect(fromTar.layers.map((layer) => [layer.digest, layer.size])).toEqual(bytes.map((layer) => [sha256(layer), layer.length]));
  expect(await openLocalImage({ kind: "docker-archive", path: archive, tag: "example.com/app:v1" })).toMatchObject({ manifestDigest: fromTar.manifestDigest });
  const otherTag = await rejectionOf(openLocalImage({ kind: "docker-archive", path: archive, tag: "example.com/app:v2" }));
  expect(otherTag.code).toBe("image_not_found");
  expect(otherTag.message).toContain("tags: example.com/app:v1");

  const extracted = join(work, "extracted");
  mkdirSync(extracted);
  expect(Bun.spawnSync(["tar", "-xf", archive, "-C", extracted]).exitCode).toBe(0);
  const fromDir = await openLocalImage({ kind: "auto", path: extracted });
  expect(fromDir.kind).toBe("docker-archive");
  expect([fromDir.manifestDigest, fromDir.configDigest]).toEqual([fromTar.manifestDigest, fromTar.configDigest]);
  expect(await Promise.all(fromDir.layers.map(drain))).toEqual(bytes);
});

test("an archive member whose bytes do not match the digest in its name fails its stream", async () => {
  const layer = writeTar([{ path: "f", data: "x" }]);
  const digest = sha256(layer);
  const config = configJson([digest]);
  const hex = digest.slice("sha256:".length);
  const tampered = new Uint8Array(layer);
  tampered[600] = 0x41;
  handArchive(
    join(work, "a.tar"),
    [{ Config: "c.json", RepoTags: null, Layers: [`${hex}.tar`] }],
    [
      { path: "c.json", data: config },
      { path: `${hex}.tar`, data: tampered },
    ],
  );
  const image = await openLocalImage({ kind: "docker-archive", path: join(work, "a.tar") });
  expect(image.layers[0]?.digest).toBe(digest);
  expect((await rejectionOf(drain(image.layers[0] as LocalLayer))).message).toContain(`not ${digest}`);
});

test("an old-style <id>/layer.tar member is hashed at open", async () => {
  const layer = writeTar([{ path: "f", data: "x" }]);
  const id = "1".repeat(64);
  handArchive(
    join(work, "a.tar"),
    [{ Config: "c.json", RepoTags: ["app:latest"], Layers: [`${id}/layer.tar`] }],
    [
      { path: "c.json", data: configJson([sha256(layer)]) },
      { path: `${id}/layer.tar`, data: layer },
    ],
  );
  const image = await openLocalImage({ kind: "docker-archive", path: join(work, "a.tar"), tag: "docker.io/library/app" });
  expect(image.layers[0]?.digest).toBe(sha256(layer));
  expect(await drain(image.layers[0] as LocalLayer)).toEqual(new Uint8Array(layer));
});

test("archive members outside the archive are refused", async () => {
  const layer = writeTar([{ path: "f", data: "x" }]);
  const config = { path: "c.json", data: configJson([sha256(layer)]) };
  const cases: [string, WriteEntry[]][] = [
    ["../escape.tar", [config]],
    ["/etc/passwd", [config]],
    ["link.tar", [config, { path: "link.tar", type: "2", link: "../../etc/passwd" }]],
  ];
  for (const [layerPath, members] of cases) {
    handArchive(join(work, "a.tar"), [{ Config: "c.json", Layers: [layerPath] }], members);
    const error = await rejectionOf(openLocalImage({ kind: "docker-archive", path: join(work, "a.tar") }));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/escapes the archive|not a relative path|leaves the archive/);
  }
  const dir = join(work, "dir");
  mkdirSync(dir);
  writeFileSync(join(dir, "manifest.json"), JSON.stringify([{ Config: "c.json", Layers: ["layer.tar"] }]));
  writeFileSync(join(dir, "c.json"), config.data);
  writeFileSync(join(work, "outside.tar"), layer);
  symlinkSync(join(work, "outside.tar"), join(dir, "layer.tar"));
  expect((await rejectionOf(openLocalImage({ kind: "auto", path: dir }))).message).toContain("outside the archive directory");
});

test("a config whose diff_ids do not match the layers is refused", async () => {
  const layer = writeTar([{ path: "f", data: "x" }]);
  handArchive(
    join(work, "a.tar"),
    [{ Config: "c.json", Layers: ["l.tar", "l.tar"] }],
    [
      { path: "c.json", data: configJson([sha256(layer)]) },
      { path: "l.tar", data: layer },
    ],
  );
  const error = await rejectionOf(openLocalImage({ kind: "docker-archive", path: join(work, "a.tar") }));
  expect(error.code).toBe("invalid_argument");
  expect(error.message).toContain("1 rootfs.diff_ids but manifest.json lists 2 layers");
});

test("the cache key is stable for a path and changes with the manifest or the path", async () => {
  const layout = join(work, "layout");
  writeOciImage(layout, "v1", sampleImage());
  const first = await openLocalImage({ kind: "oci", path: layout });
  const again = await openLocalImage({ kind: "auto", path: `${layout}/` });
  expect(first.cacheKey).toMatch(/^[0-9a-f]{8}-[0-9a-f]{8}$/);
  expect(first.cacheKey.slice(9)).toBe(first.manifestDigest.slice(7, 15));
  expect(again.cacheKey).toBe(first.cacheKey);
  writeOciImage(layout, "v1", sampleImage("changed"));
  const changed = await openLocalImage({ kind: "oci", path: layout });
  expect(changed.cacheKey.slice(0, 8)).toBe(first.cacheKey.slice(0, 8));
  expect(changed.cacheKey).not.toBe(first.cacheKey);
  const copy = join(work, "copy");
  writeOciImage(copy, "v1", sampleImage("changed"));
  expect((await openLocalImage({ kind: "oci", path: copy })).cacheKey.slice(0, 8)).not.toBe(changed.cacheKey.slice(0, 8));
});
