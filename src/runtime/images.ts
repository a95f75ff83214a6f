/**
 * The home's image cache as users see it: pull, list, remove. Removing an image a box
 * still uses is refused unless forced; forced or not, a blob or base disk is deleted only
 * when no remaining image and no box disk needs it, so `rmi -f` never breaks a box.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { listBoxes } from "../db/boxes.ts";
import { deleteImage, type ImageIndexEntry, listImages } from "../db/images.ts";
import type { PulledImage, PullEvent } from "../image/pull.ts";
import { formatReference, parseReference } from "../image/reference.ts";
import { candidatesFor, loadRegistrySettings } from "../image/registry/settings.ts";
import { type ImageContext, prepareRegistryImage, registryDiskPath } from "../image/resolve.ts";
import { BlobStore } from "../image/store.ts";
import { BoxliteError } from "../util/errors.ts";
import { filesInUse, homeDisks } from "./disk-usage.ts";
import type { Home } from "./home.ts";

/** One cached image, as `images` and the REST API show it (the reference's ImageInfo). */
export interface ImageInfo {
  reference: string;
  repository: string;
  tag: string;
  /** The manifest digest. */
  id: string;
  cached_at: string;
  /** Bytes of its layers as stored; null when a server (`--url`) does not say. */
  size: number | null;
}

export function imageContext(home: Home): ImageContext {
  const { config } = home;
  return {
    config,
    database: home.database,
    store: new BlobStore(join(config.home, "images")),
    registries: loadRegistrySettings({ configFile: config.configFile, registryFlags: config.registries }),
    dockerConfigPath: config.dockerConfigPath,
    configFile: config.configFile,
  };
}

/** Pulls an image and builds its base disk, so that the first `run` of it only boots. */
export async function pull(home: Home, text: string, onEvent?: (event: PullEvent) => void): Promise<PulledImage> {
  return (await prepareRegistryImage(imageContext(home), text, onEvent)).image;
}

function infoOf(context: ImageContext, entry: ImageIndexEntry): ImageInfo {
  const reference = parseReference(entry.reference);
  const size = entry.layers.reduce((total, digest) => total + (context.store.has("layers", digest) ? context.store.size("layers", digest) : 0), 0);
  return {
    reference: entry.reference,
    repository: `${reference.registry}/${reference.repository}`,
    tag: reference.tag ?? "<none>",
    id: entry.manifestDigest,
    cached_at: entry.cachedAt,
    size,
  };
}

/** Complete images, most recently pulled first. */
export function list(home: Home): ImageInfo[] {
  const context = imageContext(home);
  return listImages(home.database.db)
    .filter((entry) => entry.complete)
    .map((entry) => infoOf(context, entry));
}

/** The index entries `text` names: by reference (as a pull would resolve it) or by id (a manifest digest, or 12+ hex of one). */
function findEntries(context: ImageContext, text: string): ImageIndexEntry[] {
  const entries = listImages(context.database.db);
  const hex = text.replace(/^sha256:/, "");
  if (/^[a-f0-9]{12,64}$/.test(hex)) {
    const byId = entries.filter((entry) => entry.manifestDigest.slice("sha256:".length).startsWith(hex));
    if (byId.length > 0) return byId;
  }
  const references = new Set(candidatesFor(text, context.registries).map((candidate) => formatReference(candidate.reference)));
  return entries.filter((entry) => references.has(entry.reference));
}

/** Which boxes were created from one of `references` (every status counts, as with docker). */
function boxesUsing(context: ImageContext, references: Set<string>): string[] {
  return listBoxes(context.database.db)
    .filter((box) => {
      const rootfs = box.config.options.rootfs;
      const image = rootfs && typeof rootfs === "object" && "Image" in rootfs && typeof rootfs.Image === "string" ? rootfs.Image : undefined;
      if (image === undefined) return false;
      try {
        return candidatesFor(image, context.registries).some((candidate) => references.has(formatReference(candidate.reference)));
      } catch {
        return false; // a reference from another tool that we cannot parse names none of ours
      }
    })
    .map((box) => box.id);
}

/** Deletes what the removed entries used and nothing else still needs. */
function collectGarbage(home: Home, context: ImageContext, removed: ImageIndexEntry[]): void {
  const remaining = listImages(context.database.db);
  const keep = new Set(remaining.flatMap((entry) => [entry.manifestDigest, entry.configDigest, ...entry.layers]));
  // Whole chains: a box's disk may sit on snapshots and clone bases before it reaches an image's disk.
  const bases = filesInUse(homeDisks(home.config, home.database));
  for (const entry of removed) {
    if (!keep.has(entry.manifestDigest)) context.store.remove("manifests", entry.manifestDigest);
    for (const digest of entry.layers) if (!keep.has(digest)) context.store.remove("layers", digest);
    if (keep.has(entry.configDigest)) continue;
    context.store.remove("configs", entry.configDigest);
    const disk = registryDiskPath(home.config, entry.configDigest);
    if (!bases.has(disk)) rmSync(disk, { force: true });
  }
}

/** Removes the image `text` names; returns the references removed. */
export function remove(home: Home, text: string, options: { force?: boolean } = {}): string[] {
  const context = imageContext(home);
  const entries = findEntries(context, text);
  if (entries.length === 0) throw new BoxliteError("not_found", `no image ${JSON.stringify(text)} in this home; see 'boxlite images'`);
  if (entries.length > 1 && !options.force) {
    throw new BoxliteError(
      "conflict",
      `${text} names ${entries.length} images (${entries.map((entry) => entry.reference).join(", ")}); remove them by reference, or use -f to remove all`,
    );
  }
  const users = boxesUsing(context, new Set(entries.map((entry) => entry.reference)));
  if (users.length > 0 && !options.force) {
    throw new BoxliteError(
      "conflict",
      `image ${entries[0]?.reference} is used by box ${users.join(", ")}; remove the boxes first, or use -f (the boxes keep their disks)`,
    );
  }
  for (const entry of entries) deleteImage(context.database.db, entry.reference);
  collectGarbage(home, context, entries);
  return entries.map((entry) => entry.reference);
}
