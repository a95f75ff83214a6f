/**
 * Turns the IMAGE argument of `run` into a prepared base disk: the embedded default
 * image, a local OCI layout or `docker save` archive, or a registry image (pulled when
 * not cached). Registry images are cached by config digest in `images/disk-images/`;
 * local bundles in `images/local/<key>/`, apart, so a local bundle can never stand in
 * for a trusted registry image.
 */
import { join } from "node:path";
import type { Config } from "../config/config.ts";
import { DEFAULT_IMAGE_NAME, prepareDefaultImage } from "./default-image.ts";
import type { StoredBlob } from "./arriving-blob.ts";
import type { ImageBase } from "./image.ts";
import { buildImageDisk } from "./image-disk.ts";
import { openLocalImage, parseLocalSpec } from "./local.ts";
import { type PullContext, type PulledImage, type PullEvent, startPull } from "./pull.ts";

const DEFAULT_ALIASES = new Set([DEFAULT_IMAGE_NAME, "boxlite/default"]);

export interface ImageContext extends PullContext {
  config: Readonly<Config>;
}

export function isDefaultImage(name: string | undefined): boolean {
  return name === undefined || DEFAULT_ALIASES.has(name);
}

/** The ext4 base of a registry image: one per image content (its config digest). */
export function registryDiskPath(config: Readonly<Config>, configDigest: string): string {
  return join(config.home, "images", "disk-images", `${configDigest.replace(":", "-")}.ext4`);
}

async function resolveLocal(
  context: ImageContext,
  spec: { kind: "oci" | "docker-archive" | "auto"; path: string; tag?: string },
  name: string,
): Promise<ImageBase> {
  const image = await openLocalImage(spec);
  const basePath = join(context.config.home, "images", "local", image.cacheKey, "disk.ext4");
  await buildImageDisk(context.config, image.layers, basePath);
  return { name, digest: image.manifestDigest, basePath, config: image.config.run };
}

/** A `--rootfs PATH`: an OCI layout directory or a docker archive, detected. */
export function resolveRootfs(context: ImageContext, path: string): Promise<ImageBase> {
  return resolveLocal(context, { kind: "auto", path }, path);
}

/**
 * Pulls a registry image when not cached and builds its base disk when missing: ready to run.
 * The disk is built as the layers arrive: each is applied (in a worker thread) as it
 * downloads, once the ones below it are applied; the disk is published only when every
 * layer arrived whole and verified.
 */
export async function prepareRegistryImage(
  context: ImageContext,
  name: string,
  onEvent?: (event: PullEvent) => void,
): Promise<{ image: PulledImage; base: ImageBase }> {
  const pull = await startPull(context, name, onEvent);
  const { image } = pull;
  const basePath = registryDiskPath(context.config, image.configDigest);
  const layers = image.layers.map((layer, i) => ({
    source: `${image.reference} layer ${layer.digest}`,
    diffId: image.config.diffIds[i],
    stored: pull.layers[i] as StoredBlob,
  }));
  const [pulled, built] = await Promise.allSettled([pull.done, buildImageDisk(context.config, layers, basePath)]);
  // A failed download also fails the build that waits for it: report the download.
  if (pulled.status === "rejected") throw pulled.reason;
  if (built.status === "rejected") throw built.reason;
  return { image, base: { name, digest: image.manifestDigest, basePath, config: image.config.run } };
}

export async function resolveImage(context: ImageContext, name: string | undefined, onEvent?: (event: PullEvent) => void): Promise<ImageBase> {
  if (name === undefined || isDefaultImage(name)) return prepareDefaultImage(context.config);
  const local = parseLocalSpec(name);
  if (local) return resolveLocal(context, local, name);
  return (await prepareRegistryImage(context, name, onEvent)).base;
}
