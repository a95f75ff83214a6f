/**
 * Images from local sources instead of a registry: an OCI image layout directory
 * (`oci:PATH[:TAG]`) or a `docker save` archive, as a tar file or extracted
 * (`docker-archive:PATH[:NAME:TAG]`), and `--rootfs PATH`, which may be either. Spec
 * syntax follows skopeo's transports, so a path skopeo wrote can be pasted as is.
 */
import { stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { BoxliteError, wrapError } from "../util/errors.ts";
import { openDockerArchive } from "./local-archive.ts";
import { openOciLayout } from "./local-oci.ts";
import type { OciImageConfig } from "./oci.ts";

/** One layer blob of a local image, read in place. */
export interface LocalLayer {
  /** Names the layer in errors, e.g. "oci:/path@sha256:ab12… layer 2". */
  source: string;
  /** sha256 of the blob as stored (usually compressed). */
  digest: string;
  /** sha256 of the uncompressed tar, from the image config. */
  diffId: string;
  size: number;
  /**
   * The blob bytes. The iterator throws BoxliteError("invalid_argument") at the end if
   * they do not hash to `digest` or are not `size` bytes, so the consumer must treat its
   * output as provisional until the iterator finishes.
   */
  open(): AsyncIterable<Uint8Array>;
}

/** An image read from a local layout or archive. */
export interface LocalImage {
  kind: "oci" | "docker-archive";
  /** Absolute. */
  path: string;
  /** sha256 of the manifest bytes; for a docker archive, of a canonical JSON synthesized from the content digests. */
  manifestDigest: string;
  configDigest: string;
  config: OciImageConfig;
  /** Bottom layer first. */
  layers: LocalLayer[];
  /** `<sha256(path) first 8 hex>-<manifest digest first 8 hex>`: the images/local/ cache key. */
  cacheKey: string;
}

/** A parsed local image spec. */
export interface LocalSpec {
  kind: "oci" | "docker-archive";
  path: string;
  tag?: string;
}

/** What `openLocalImage` reads; "auto" detects a layout or an archive (for `--rootfs`). */
export interface LocalSource {
  kind: "oci" | "docker-archive" | "auto";
  path: string;
  tag?: string;
}

const PREFIXES = { "oci:": "oci", "docker-archive:": "docker-archive" } as const;

/**
 * Parses `oci:PATH[:TAG]` and `docker-archive:PATH[:NAME:TAG]`. As in skopeo, the first
 * colon after the prefix ends the path, so a path cannot contain one. Returns undefined
 * when `spec` has neither prefix (it is a registry reference).
 */
export function parseLocalSpec(spec: string): LocalSpec | undefined {
  if (spec.startsWith("oci-archive:")) {
    throw new BoxliteError("unsupported", `${spec}: oci-archive: is not supported; extract the archive (tar -xf FILE -C DIR) and use oci:DIR`);
  }
  for (const [prefix, kind] of Object.entries(PREFIXES)) {
    if (!spec.startsWith(prefix)) continue;
    const rest = spec.slice(prefix.length);
    const colon = rest.indexOf(":");
    const path = colon < 0 ? rest : rest.slice(0, colon);
    const tag = colon < 0 ? undefined : rest.slice(colon + 1);
    if (path === "") throw new BoxliteError("invalid_argument", `${JSON.stringify(spec)} names no path; write ${prefix}PATH`);
    if (tag === "") throw new BoxliteError("invalid_argument", `${JSON.stringify(spec)} ends with an empty tag; drop the trailing colon or name a tag`);
    return tag === undefined ? { kind, path } : { kind, path, tag };
  }
  return undefined;
}

/** Which reader a path needs: a directory with oci-layout is a layout, with manifest.json an extracted archive, a file an archive. */
async function detectKind(path: string, isDirectory: boolean): Promise<"oci" | "docker-archive"> {
  if (!isDirectory) return "docker-archive";
  // docker save since Docker 25 writes both; the OCI side has real manifest digests, so it wins.
  if (await Bun.file(join(path, "oci-layout")).exists()) return "oci";
  if (await Bun.file(join(path, "manifest.json")).exists()) return "docker-archive";
  if (await Bun.file(join(path, "index.json")).exists()) return "oci";
  throw new BoxliteError(
    "invalid_argument",
    `${path} is neither an OCI image layout (no oci-layout or index.json) nor an extracted docker save archive (no manifest.json)`,
  );
}

/** Opens a local image: reads and checks its index, manifest and config; layer bytes are checked as they are streamed. */
export async function openLocalImage(source: LocalSource): Promise<LocalImage> {
  const path = resolve(source.path);
  let isDirectory: boolean;
  try {
    const info = await stat(path);
    if (!info.isDirectory() && !info.isFile())
      throw new BoxliteError("invalid_argument", `${path} is neither a directory nor a file; expected an OCI image layout or a docker save archive`);
    isDirectory = info.isDirectory();
  } catch (error) {
    if (error instanceof BoxliteError) throw error;
    throw new BoxliteError("not_found", `${path} does not exist; expected an OCI image layout directory or a docker save archive there`, { cause: error });
  }
  const kind = source.kind === "auto" ? await detectKind(path, isDirectory) : source.kind;
  if (kind === "oci" && !isDirectory)
    throw new BoxliteError(
      "invalid_argument",
      `${path} is a file, but oci: expects an OCI image layout directory; for a docker save archive use docker-archive:${path}`,
    );
  try {
    return kind === "oci" ? await openOciLayout(path, source.tag) : await openDockerArchive(path, isDirectory, source.tag);
  } catch (error) {
    // An unreadable file (EACCES, EIO) surfaces as a Node error; the user needs the path.
    throw wrapError("invalid_argument", `cannot read the image at ${path}`, error);
  }
}
