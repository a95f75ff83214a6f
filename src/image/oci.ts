/**
 * The OCI image documents boxlite reads — manifests, indexes (and Docker's schema 2
 * equivalents) and image configs — parsed from untrusted JSON into typed values, plus
 * the choice of this host's platform in a multi-platform index. Shared by registry pulls
 * and local layouts. Specs: opencontainers/image-spec manifest.md, image-index.md,
 * config.md; Docker "Image Manifest V2, Schema 2".
 */
import { BoxliteError } from "../util/errors.ts";
import type { ImageConfig } from "./image.ts";

export const MEDIA_TYPES = {
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
} as const;

/** What a registry is asked for: every manifest shape boxlite understands. */
export const MANIFEST_ACCEPT = [MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerList, MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest].join(", ");

const DIGEST = /^sha256:[a-f0-9]{64}$/;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
}

export interface ImageManifest {
  kind: "manifest";
  mediaType: string;
  config: Descriptor;
  /** Bottom layer first. */
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: "index";
  mediaType: string;
  manifests: Descriptor[];
}

export interface OciImageConfig {
  architecture: string;
  os: string;
  /** sha256 of each uncompressed layer tar, bottom first. */
  diffIds: string[];
  /** The runtime defaults a box starts with. */
  run: ImageConfig;
}

function bad(what: string, why: string): BoxliteError {
  return new BoxliteError("invalid_argument", `${what} is not a valid image document: ${why}`);
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string, field: string): Json {
  if (value === null || typeof value !== "object" || Array.isArray(value)) throw bad(what, `${field} is not an object`);
  return value as Json;
}

function parseJson(bytes: Uint8Array | string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(typeof bytes === "string" ? bytes : new TextDecoder().decode(bytes));
  } catch (error) {
    throw bad(what, `it is not JSON (${(error as Error).message})`);
  }
  return object(value, what, "the document");
}

function strings(value: unknown, what: string, field: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || !value.every((item) => typeof item === "string")) throw bad(what, `${field} is not a list of strings`);
  return value;
}

export function checkDigest(digest: unknown, what: string): string {
  if (typeof digest !== "string" || !DIGEST.test(digest)) throw bad(what, `digest ${JSON.stringify(digest)} is not sha256:<64 hex>`);
  return digest;
}

function descriptor(value: unknown, what: string, field: string): Descriptor {
  const raw = object(value, what, field);
  const size = raw.size;
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) throw bad(what, `${field}.size is not a byte count`);
  const result: Descriptor = { mediaType: typeof raw.mediaType === "string" ? raw.mediaType : "", digest: checkDigest(raw.digest, `${what} ${field}`), size };
  if (raw.platform !== undefined) {
    const platform = object(raw.platform, what, `${field}.platform`);
    if (typeof platform.architecture !== "string" || typeof platform.os !== "string") throw bad(what, `${field}.platform lacks architecture or os`);
    result.platform = { architecture: platform.architecture, os: platform.os };
    if (typeof platform.variant === "string") result.platform.variant = platform.variant;
  }
  return result;
}

/**
 * Parses a manifest or an index. `mediaType` is the one the registry sent (Content-Type)
 * when known; the document's own field and its shape decide otherwise.
 */
export function parseManifestDocument(bytes: Uint8Array | string, what: string, mediaType?: string): ImageManifest | ImageIndex {
  const raw = parseJson(bytes, what);
  if (raw.schemaVersion !== 2)
    throw bad(what, `schemaVersion is ${JSON.stringify(raw.schemaVersion)}, not 2 (Docker schema 1 images are not supported; re-push the image)`);
  const type = typeof raw.mediaType === "string" ? raw.mediaType : (mediaType ?? "");
  if (Array.isArray(raw.manifests) || type === MEDIA_TYPES.ociIndex || type === MEDIA_TYPES.dockerList) {
    if (!Array.isArray(raw.manifests)) throw bad(what, "an index without manifests");
    return { kind: "index", mediaType: type || MEDIA_TYPES.ociIndex, manifests: raw.manifests.map((item, i) => descriptor(item, what, `manifests[${i}]`)) };
  }
  if (!Array.isArray(raw.layers)) throw bad(what, "a manifest without layers");
  return {
    kind: "manifest",
    mediaType: type || MEDIA_TYPES.ociManifest,
    config: descriptor(raw.config, what, "config"),
    layers: raw.layers.map((item, i) => descriptor(item, what, `layers[${i}]`)),
  };
}

/** This host's platform in OCI terms (GOARCH names). */
export function hostPlatform(): Platform {
  const architecture =
    ({ x64: "amd64", arm64: "arm64", arm: "arm", ia32: "386", ppc64: "ppc64le", s390x: "s390x", riscv64: "riscv64" } as Record<string, string>)[process.arch] ??
    process.arch;
  return { architecture, os: "linux" };
}

/** The index entry for `platform`, or an error listing what the image offers. */
export function selectPlatform(index: ImageIndex, what: string, platform: Platform = hostPlatform()): Descriptor {
  const candidates = index.manifests.filter((entry) => entry.platform?.os === platform.os && entry.platform.architecture === platform.architecture);
  // Prefer an exact variant, then none given, then any (arm64 images often say v8).
  const chosen =
    candidates.find((entry) => entry.platform?.variant === platform.variant) ??
    candidates.find((entry) => entry.platform?.variant === undefined) ??
    candidates[0];
  if (chosen) return chosen;
  const offered = index.manifests
    .map((entry) =>
      entry.platform ? `${entry.platform.os}/${entry.platform.architecture}${entry.platform.variant ? `/${entry.platform.variant}` : ""}` : "unknown",
    )
    .join(", ");
  throw new BoxliteError("image_not_found", `${what} has no ${platform.os}/${platform.architecture} image (it offers ${offered || "nothing"})`);
}

/** Parses an image config (config.md): platform, diff ids and the run defaults. */
export function parseImageConfig(bytes: Uint8Array | string, what: string): OciImageConfig {
  const raw = parseJson(bytes, what);
  const rootfs = object(raw.rootfs, what, "rootfs");
  const diffIds = strings(rootfs.diff_ids, what, "rootfs.diff_ids").map((digest) => checkDigest(digest, `${what} rootfs.diff_ids`));
  const config = raw.config === undefined || raw.config === null ? {} : object(raw.config, what, "config");
  const text = (field: string) => {
    const value = config[field];
    if (value !== undefined && value !== null && typeof value !== "string") throw bad(what, `config.${field} is not a string`);
    return typeof value === "string" ? value : "";
  };
  return {
    architecture: typeof raw.architecture === "string" ? raw.architecture : "",
    os: typeof raw.os === "string" ? raw.os : "",
    diffIds,
    run: {
      env: strings(config.Env, what, "config.Env"),
      entrypoint: strings(config.Entrypoint, what, "config.Entrypoint"),
      cmd: strings(config.Cmd, what, "config.Cmd"),
      workingDir: text("WorkingDir"),
      user: text("User"),
    },
  };
}
