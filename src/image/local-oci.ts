/**
 * Reads an image from an OCI image layout directory (image-spec image-layout.md:
 * `oci-layout`, `index.json`, `blobs/sha256/<hex>`), as `skopeo copy … oci:DIR:TAG`
 * writes it. Manifests and configs are checked against their digests when read; layer
 * blobs when streamed.
 */
import { stat } from "node:fs/promises";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import type { LocalImage, LocalLayer } from "./local.ts";
import { localCacheKey, readDocument, readVerifiedDocument, shortDigest, verifiedStream } from "./local-blob.ts";
import { type Descriptor, type ImageIndex, type ImageManifest, parseImageConfig, parseManifestDocument, selectPlatform } from "./oci.ts";

/** The index.json annotation that names a manifest (the TAG of `oci:DIR:TAG`). */
const REF_NAME = "org.opencontainers.image.ref.name";
/** index.json → image index → manifest is as deep as real layouts go. */
const MAX_INDEX_DEPTH = 2;

function blobPath(layout: string, digest: string): string {
  // oci.ts accepted the digest only as sha256:<64 hex>, so this cannot leave blobs/.
  return join(layout, "blobs", "sha256", digest.slice("sha256:".length));
}

async function checkLayoutFile(layout: string): Promise<void> {
  const file = Bun.file(join(layout, "oci-layout"));
  if (!(await file.exists())) {
    throw new BoxliteError(
      "invalid_argument",
      `${layout} is not an OCI image layout: it has no oci-layout file; write one with skopeo copy SOURCE oci:${layout}:TAG`,
    );
  }
  let version: unknown;
  try {
    version = (JSON.parse(new TextDecoder().decode(await readDocument(file, file.size, `${layout}/oci-layout`))) as { imageLayoutVersion?: unknown })
      .imageLayoutVersion;
  } catch (error) {
    if (error instanceof BoxliteError) throw error;
    throw new BoxliteError("invalid_argument", `${layout}/oci-layout is not JSON; the layout is damaged — re-copy the image`, { cause: error });
  }
  if (typeof version !== "string" || !version.startsWith("1.")) {
    throw new BoxliteError("invalid_argument", `${layout}/oci-layout has imageLayoutVersion ${JSON.stringify(version)}; boxlite reads version 1.x layouts`);
  }
}

/** The ref-name annotation of each index.json entry, aligned with the parsed descriptors. */
function refNames(indexBytes: Uint8Array): (string | undefined)[] {
  const raw = JSON.parse(new TextDecoder().decode(indexBytes)) as { manifests: { annotations?: Record<string, unknown> }[] };
  return raw.manifests.map((entry) => {
    const name = entry?.annotations?.[REF_NAME];
    return typeof name === "string" ? name : undefined;
  });
}

function chooseEntry(index: ImageIndex, names: (string | undefined)[], tag: string | undefined, layout: string): Descriptor {
  const tags = [...new Set(names.filter((name) => name !== undefined))];
  const listed = tags.length > 0 ? tags.join(", ") : "none";
  if (tag !== undefined) {
    const matching = index.manifests.filter((_, i) => names[i] === tag);
    if (matching.length === 1) return matching[0] as Descriptor;
    // Some tools tag each platform's manifest with the same name instead of writing an index.
    if (matching.length > 1) return selectPlatform({ ...index, manifests: matching }, `OCI layout ${layout} tag ${tag}`);
    throw new BoxliteError(
      "image_not_found",
      `OCI layout ${layout} has no image tagged ${JSON.stringify(tag)} (tags: ${listed}); use oci:${layout}:TAG with one of those`,
    );
  }
  if (index.manifests.length === 1) return index.manifests[0] as Descriptor;
  if (index.manifests.length === 0) throw new BoxliteError("image_not_found", `OCI layout ${layout} holds no images (its index.json is empty)`);
  // An untagged index.json listing one manifest per platform is itself a multi-platform index.
  if (tags.length === 0 && index.manifests.every((entry) => entry.platform !== undefined)) return selectPlatform(index, `OCI layout ${layout}`);
  throw new BoxliteError("invalid_argument", `OCI layout ${layout} holds ${index.manifests.length} images (tags: ${listed}); name one as oci:${layout}:TAG`);
}

/** Reads a manifest, index or config blob, checked against its descriptor. */
async function readBlob(layout: string, descriptor: Descriptor, what: string): Promise<Uint8Array> {
  const file = Bun.file(blobPath(layout, descriptor.digest));
  if (!(await file.exists())) {
    throw new BoxliteError(
      "not_found",
      `OCI layout ${layout} is missing the blob ${descriptor.digest} (${what}); the layout is incomplete — re-copy the image`,
    );
  }
  return readVerifiedDocument(file, descriptor, `OCI layout ${layout} ${what} ${descriptor.digest}`);
}

/** Follows the chosen entry through image indexes to this host's manifest. */
async function resolveManifest(layout: string, entry: Descriptor): Promise<{ descriptor: Descriptor; manifest: ImageManifest }> {
  let descriptor = entry;
  for (let depth = 0; ; depth++) {
    const document = parseManifestDocument(
      await readBlob(layout, descriptor, "manifest"),
      `OCI layout ${layout} manifest ${descriptor.digest}`,
      descriptor.mediaType,
    );
    if (document.kind === "manifest") return { descriptor, manifest: document };
    if (depth >= MAX_INDEX_DEPTH)
      throw new BoxliteError("invalid_argument", `OCI layout ${layout}: image indexes nest deeper than ${MAX_INDEX_DEPTH}; the layout is malformed`);
    descriptor = selectPlatform(document, `OCI layout ${layout} index ${descriptor.digest}`);
  }
}

/** Checks a layer blob is present and the declared size before anything is unpacked. */
async function checkLayerBlob(layout: string, descriptor: Descriptor, label: string): Promise<void> {
  let size: number;
  try {
    size = (await stat(blobPath(layout, descriptor.digest))).size;
  } catch (error) {
    throw new BoxliteError(
      "not_found",
      `OCI layout ${layout} is missing the blob ${descriptor.digest} (${label}); the layout is incomplete — re-copy the image`,
      { cause: error },
    );
  }
  if (size !== descriptor.size) {
    throw new BoxliteError(
      "invalid_argument",
      `OCI layout ${layout}: the blob ${descriptor.digest} (${label}) is ${size} bytes, not the ${descriptor.size} the manifest declares; re-copy the image`,
    );
  }
}

/** Opens the OCI layout at the absolute `layout` path, choosing the image tagged `tag`. */
export async function openOciLayout(layout: string, tag: string | undefined): Promise<LocalImage> {
  await checkLayoutFile(layout);
  const indexFile = Bun.file(join(layout, "index.json"));
  if (!(await indexFile.exists()))
    throw new BoxliteError("invalid_argument", `OCI layout ${layout} has no index.json; the layout is incomplete — re-copy the image`);
  const indexBytes = await readDocument(indexFile, indexFile.size, `OCI layout ${layout} index.json`);
  const index = parseManifestDocument(indexBytes, `OCI layout ${layout} index.json`);
  if (index.kind !== "index")
    throw new BoxliteError("invalid_argument", `OCI layout ${layout} index.json is a manifest, not an image index; the layout is malformed`);

  const { descriptor, manifest } = await resolveManifest(layout, chooseEntry(index, refNames(indexBytes), tag, layout));
  const configWhat = `config of manifest ${descriptor.digest}`;
  const config = parseImageConfig(await readBlob(layout, manifest.config, configWhat), `OCI layout ${layout} ${configWhat}`);
  if (config.diffIds.length !== manifest.layers.length) {
    throw new BoxliteError(
      "invalid_argument",
      `OCI layout ${layout}: the config lists ${config.diffIds.length} rootfs.diff_ids but manifest ${descriptor.digest} lists ${manifest.layers.length} layers; the image is inconsistent — rebuild it`,
    );
  }
  const layers: LocalLayer[] = [];
  for (const [i, layer] of manifest.layers.entries()) {
    const source = `oci:${layout}@${shortDigest(descriptor.digest)} layer ${i + 1}`;
    await checkLayerBlob(layout, layer, `layer ${i + 1} of manifest ${descriptor.digest}`);
    const path = blobPath(layout, layer.digest);
    layers.push({
      source,
      digest: layer.digest,
      diffId: config.diffIds[i] as string,
      size: layer.size,
      open: () => verifiedStream(() => Bun.file(path).stream(), layer, source),
    });
  }
  return {
    kind: "oci",
    path: layout,
    manifestDigest: descriptor.digest,
    configDigest: manifest.config.digest,
    config,
    layers,
    cacheKey: localCacheKey(layout, descriptor.digest),
  };
}
