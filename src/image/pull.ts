/**
 * Pulling an image: reference → registry candidates → manifest (through an index to
 * this host's platform) → config → layers, each blob verified into the store, and the
 * result recorded in `image_index`. An image already recorded complete with all its
 * blobs on disk is answered from disk with no network access at all. A pull answers as
 * soon as the image is known, with each layer's blob as it arrives, so its base disk can
 * be built while the layers still download.
 */
import { getImage, putImage } from "../db/images.ts";
import type { HomeDatabase } from "../db/database.ts";
import { ArrivalProgress, type StoredBlob } from "./arriving-blob.ts";
import { BoxliteError, isBoxliteError } from "../util/errors.ts";
import { type Descriptor, type ImageManifest, type OciImageConfig, parseImageConfig, parseManifestDocument, selectPlatform } from "./oci.ts";
import { formatReference, type ImageReference } from "./reference.ts";
import { RegistryClient } from "./registry/client.ts";
import { candidatesFor, type RegistrySettings } from "./registry/settings.ts";
import type { BlobStore } from "./store.ts";

export interface PullContext {
  database: HomeDatabase;
  store: BlobStore;
  registries: RegistrySettings[];
  dockerConfigPath: string;
  /** The `--config` file the registries came from, named in credential errors. */
  configFile?: string;
}

/** What a pull reports as it goes, for progress bars and plain lines. */
export type PullEvent =
  | { type: "resolved"; reference: string; manifestDigest: string; layers: Array<{ digest: string; size: number; cached: boolean }> }
  | { type: "progress"; digest: string; bytes: number; size: number }
  | { type: "layer-done"; digest: string };

export interface PulledImage {
  /** Canonical: `registry/repository:tag` (or `@digest`). */
  reference: string;
  manifestDigest: string;
  configDigest: string;
  layers: Descriptor[];
  config: OciImageConfig;
  /** True when nothing was fetched. */
  cached: boolean;
}

/**
 * A pull under way: the image is known (its manifest and config are in) and its layers are
 * arriving, so a caller can apply each one as it downloads.
 */
export interface PullInProgress {
  image: PulledImage;
  /** Per layer, in manifest order: its blob in the store, whole or arriving. */
  layers: StoredBlob[];
  /** Every layer stored and the image recorded complete; rejects with the first failure. Always await it. */
  done: Promise<PulledImage>;
}

/** Layers downloaded at once: enough to fill a link, few enough to keep each one moving. */
const LAYER_CONCURRENCY = 3;

/** The image as recorded, when complete and every blob is on disk; no network. */
function fromCache(context: PullContext, reference: string): PulledImage | undefined {
  const entry = getImage(context.database.db, reference);
  if (!entry?.complete) return undefined;
  const manifestBytes = context.store.read("manifests", entry.manifestDigest);
  const configBytes = context.store.read("configs", entry.configDigest);
  if (!manifestBytes || !configBytes || !entry.layers.every((digest) => context.store.has("layers", digest))) return undefined;
  const manifest = parseManifestDocument(manifestBytes, `cached manifest of ${reference}`);
  if (manifest.kind !== "manifest") return undefined;
  const config = parseImageConfig(configBytes, `cached config of ${reference}`);
  return { reference, manifestDigest: entry.manifestDigest, configDigest: entry.configDigest, layers: manifest.layers, config, cached: true };
}

/** The cached image for `text`, trying each registry candidate as a pull would; no network. */
export function findCachedImage(context: PullContext, text: string): PulledImage | undefined {
  for (const candidate of candidatesFor(text, context.registries)) {
    const cached = fromCache(context, formatReference(candidate.reference));
    if (cached) return cached;
  }
  return undefined;
}

/** Starts `work` on the items in order, at most `limit` at once; one promise per item, settled as that item finishes. */
function inOrder<T, R>(items: readonly T[], limit: number, work: (item: T) => Promise<R>): Promise<R>[] {
  const results = items.map(() => Promise.withResolvers<R>());
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const result = results[index] as PromiseWithResolvers<R>;
      await work(items[index] as T).then(result.resolve, result.reject);
    }
  };
  for (let started = 0; started < Math.min(limit, items.length); started++) void worker();
  return results.map((result) => result.promise);
}

async function resolveManifest(
  client: RegistryClient,
  context: PullContext,
  reference: ImageReference,
  what: string,
): Promise<{ digest: string; manifest: ImageManifest }> {
  const first = await client.getManifest(reference.repository, reference.digest ?? reference.tag ?? "latest");
  const document = parseManifestDocument(first.bytes, what, first.mediaType);
  if (document.kind === "manifest") {
    context.store.put("manifests", first.digest, first.bytes);
    return { digest: first.digest, manifest: document };
  }
  // The index itself is not kept: the record names the platform manifest, which is all a box needs.
  const chosen = selectPlatform(document, what);
  const second = await client.getManifest(reference.repository, chosen.digest);
  const manifest = parseManifestDocument(second.bytes, `${what} (${chosen.digest})`, second.mediaType);
  if (manifest.kind !== "manifest")
    throw new BoxliteError("registry", `${what}: the index entry ${chosen.digest} is itself an index; nested indexes are not supported`);
  context.store.put("manifests", second.digest, second.bytes);
  return { digest: second.digest, manifest };
}

async function pullFrom(
  context: PullContext,
  settings: RegistrySettings,
  reference: ImageReference,
  onEvent: (event: PullEvent) => void,
): Promise<PullInProgress> {
  const canonical = formatReference(reference);
  const client = new RegistryClient(settings, { dockerConfigPath: context.dockerConfigPath, configFile: context.configFile });
  const { digest: manifestDigest, manifest } = await resolveManifest(client, context, reference, `image ${canonical}`);
  const blobFetcher = (digest: string) => async (offset: number) => client.getBlob(reference.repository, digest, { offset });
  const configPath = await context.store.fetch("configs", manifest.config.digest, { size: manifest.config.size, fetch: blobFetcher(manifest.config.digest) });
  const config = parseImageConfig(await Bun.file(configPath).bytes(), `config of ${canonical}`);
  if (config.diffIds.length !== manifest.layers.length) {
    throw new BoxliteError(
      "invalid_argument",
      `image ${canonical}: its config lists ${config.diffIds.length} layer diff ids but the manifest has ${manifest.layers.length} layers`,
    );
  }
  const record = {
    reference: canonical,
    manifestDigest,
    configDigest: manifest.config.digest,
    layers: manifest.layers.map((layer) => layer.digest),
    cachedAt: new Date().toISOString(),
  };
  putImage(context.database.db, { ...record, complete: false });
  onEvent({
    type: "resolved",
    reference: canonical,
    manifestDigest,
    layers: manifest.layers.map((layer) => ({ digest: layer.digest, size: layer.size, cached: context.store.has("layers", layer.digest) })),
  });
  const progress = manifest.layers.map(() => new ArrivalProgress());
  const downloads = inOrder([...manifest.layers.entries()], LAYER_CONCURRENCY, async ([index, layer]) => {
    const arrival = progress[index] as ArrivalProgress;
    try {
      await context.store.fetch("layers", layer.digest, {
        size: layer.size,
        fetch: blobFetcher(layer.digest),
        onProgress: (bytes) => {
          arrival.wrote(bytes);
          onEvent({ type: "progress", digest: layer.digest, bytes, size: layer.size });
        },
      });
    } catch (error) {
      arrival.settle("failed");
      throw error;
    }
    arrival.settle("verified");
    onEvent({ type: "layer-done", digest: layer.digest });
  });
  const image = { reference: canonical, manifestDigest, configDigest: manifest.config.digest, layers: manifest.layers, config, cached: false };
  const done = Promise.all(downloads).then(() => {
    putImage(context.database.db, { ...record, complete: true });
    return image;
  });
  const layers = manifest.layers.map((layer, index) =>
    storedBlob(context, layer.digest, progress[index] as ArrivalProgress, downloads[index] as Promise<void>),
  );
  return { image, layers, done };
}

function storedBlob(context: PullContext, digest: string, progress: ArrivalProgress, done: Promise<unknown>): StoredBlob {
  return { path: context.store.path("layers", digest), partialPath: context.store.partialPath("layers", digest), progress, done };
}

/**
 * Starts pulling `text` (as the user wrote it) unless it is cached, and answers once the
 * image is known. Unqualified names are tried on each search registry in order; the first
 * that has the image (its manifest and config) wins.
 */
export async function startPull(context: PullContext, text: string, onEvent: (event: PullEvent) => void = () => {}): Promise<PullInProgress> {
  const cached = findCachedImage(context, text);
  if (cached) {
    const layers = cached.layers.map((layer) => storedBlob(context, layer.digest, ArrivalProgress.verified(), Promise.resolve()));
    return { image: cached, layers, done: Promise.resolve(cached) };
  }
  const candidates = candidatesFor(text, context.registries);
  const misses: BoxliteError[] = [];
  for (const { settings, reference } of candidates) {
    try {
      return await pullFrom(context, settings, reference, onEvent);
    } catch (error) {
      // "Not there" moves on to the next registry. Token registries (Docker Hub among them)
      // answer an unknown repository with 401, so a refusal moves on too; anything else is the answer.
      const miss = isBoxliteError(error) && (error.code === "image_not_found" || error.code === "unauthorized");
      if (!miss || candidates.length === 1) throw error;
      misses.push(error);
    }
  }
  throw new BoxliteError(
    "image_not_found",
    `image ${text} was not found on any search registry (${candidates.map((candidate) => candidate.settings.host).join(", ")}): ${misses.map((miss) => miss.message).join("; ")}`,
  );
}
