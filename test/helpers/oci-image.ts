/**
 * Builds OCI image layouts for tests (image-layout spec: `oci-layout`, `index.json`,
 * `blobs/sha256/…`), from layers written entry by entry (tar-writer.test-helper.ts) on
 * top of the busybox rootfs the build makes. A layout can be pushed to the test registry
 * with skopeo, or turned into a `docker save` archive with `dockerArchive`.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type WriteEntry, writeTar } from "../../src/image/tar-writer.test-helper.ts";
import { REPO } from "./cli.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";

export type Compression = "gzip" | "zstd" | "none";

export interface FixtureLayer {
  /** Entries to write, or a whole tar archive. */
  entries: WriteEntry[] | Uint8Array;
  compression?: Compression;
}

export interface FixtureConfig {
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  User?: string;
}

export interface FixtureImage {
  layers: FixtureLayer[];
  config?: FixtureConfig;
  architecture?: string;
  os?: string;
}

export interface WrittenBlob {
  digest: string;
  size: number;
  mediaType: string;
}

export interface WrittenImage {
  manifest: WrittenBlob;
  config: WrittenBlob;
  layers: WrittenBlob[];
  /** sha256 of each uncompressed layer tar, as the config's rootfs.diff_ids. */
  diffIds: string[];
}

const sha256 = (bytes: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;

/** Writes a blob into the layout and describes it. */
export function writeBlob(dir: string, bytes: Uint8Array, mediaType: string): WrittenBlob {
  const digest = sha256(bytes);
  mkdirSync(join(dir, "blobs", "sha256"), { recursive: true });
  writeFileSync(join(dir, "blobs", "sha256", digest.slice("sha256:".length)), bytes);
  return { digest, size: bytes.length, mediaType };
}

function compress(tar: Uint8Array, compression: Compression): { bytes: Uint8Array; mediaType: string } {
  if (compression === "gzip") return { bytes: Bun.gzipSync(new Uint8Array(tar)), mediaType: "application/vnd.oci.image.layer.v1.tar+gzip" };
  if (compression === "zstd") return { bytes: Bun.zstdCompressSync(new Uint8Array(tar)), mediaType: "application/vnd.oci.image.layer.v1.tar+zstd" };
  return { bytes: tar, mediaType: "application/vnd.oci.image.layer.v1.tar" };
}

/** The busybox root filesystem the build embeds as the default image (a gzip tar). */
export function busyboxLayer(): FixtureLayer {
  return { entries: Bun.gunzipSync(readFileSync(join(REPO, "build", "image", "default-rootfs.tar.gz"))), compression: "gzip" };
}

/** Writes an image's layers, config and manifest as blobs (not yet named in index.json). */
export function writeImageBlobs(dir: string, image: FixtureImage): WrittenImage {
  const layers: WrittenBlob[] = [];
  const diffIds: string[] = [];
  for (const layer of image.layers) {
    const tar = layer.entries instanceof Uint8Array ? layer.entries : writeTar(layer.entries);
    diffIds.push(sha256(tar));
    const { bytes, mediaType } = compress(tar, layer.compression ?? "gzip");
    layers.push(writeBlob(dir, bytes, mediaType));
  }
  const configJson = {
    architecture: image.architecture ?? "amd64",
    os: image.os ?? "linux",
    created: "2026-01-01T00:00:00Z",
    config: image.config ?? {},
    rootfs: { type: "layers", diff_ids: diffIds },
  };
  const config = writeBlob(dir, new TextEncoder().encode(JSON.stringify(configJson)), OCI_CONFIG);
  const manifestJson = { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers };
  const manifest = writeBlob(dir, new TextEncoder().encode(JSON.stringify(manifestJson)), OCI_MANIFEST);
  return { manifest, config, layers, diffIds };
}

interface IndexEntry extends WrittenBlob {
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

/** Names `blob` as `tag` in the layout's index.json (creating the layout when needed). */
export function tagInLayout(dir: string, tag: string, blob: WrittenBlob): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  const indexPath = join(dir, "index.json");
  const index = existsSync(indexPath) ? (JSON.parse(readFileSync(indexPath, "utf8")) as { manifests: IndexEntry[] }) : { manifests: [] };
  const manifests = index.manifests.filter((entry) => entry.annotations?.["org.opencontainers.image.ref.name"] !== tag);
  manifests.push({ ...blob, annotations: { "org.opencontainers.image.ref.name": tag } });
  writeFileSync(indexPath, JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests }));
}

/** A single-platform image tagged `tag` in the layout at `dir`. */
export function writeOciImage(dir: string, tag: string, image: FixtureImage): WrittenImage {
  const written = writeImageBlobs(dir, image);
  tagInLayout(dir, tag, written.manifest);
  return written;
}

/** A multi-platform image: an image index over one manifest per image, tagged `tag`. */
export function writeOciIndex(dir: string, tag: string, images: FixtureImage[]): { index: WrittenBlob; images: WrittenImage[] } {
  const written = images.map((image) => writeImageBlobs(dir, image));
  const manifests: IndexEntry[] = written.map((image, i) => ({
    ...image.manifest,
    platform: { architecture: images[i]?.architecture ?? "amd64", os: images[i]?.os ?? "linux" },
  }));
  const index = writeBlob(dir, new TextEncoder().encode(JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX, manifests })), OCI_INDEX);
  tagInLayout(dir, tag, index);
  return { index, images: written };
}

/** Converts the layout's `tag` into a `docker save` archive at `archivePath` (with skopeo; gzip or plain layers only). */
export function dockerArchive(dir: string, tag: string, archivePath: string, name: string): void {
  const args = ["skopeo", "copy", "-q", `oci:${dir}:${tag}`, `docker-archive:${archivePath}:${name}`];
  const result = Bun.spawnSync(args, { stdout: "pipe", stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stderr.toString()}`);
}
