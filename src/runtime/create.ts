/**
 * Creating a box: its image resolved (pulled when needed), its record (`configured`),
 * its directory with the disk overlay, and `image.json` — the image as resolved, so that
 * starting the box later never needs a registry, even after `rmi -f`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { monotonicFactory } from "ulid";
import { deleteBox, insertBox } from "../db/boxes.ts";
import { createOverlay } from "../disk/qcow2.ts";
import type { ImageBase } from "../image/image.ts";
import type { PullEvent } from "../image/pull.ts";
import { resolveImage, resolveRootfs } from "../image/resolve.ts";
import { boxLayout } from "./box-layout.ts";
import { newBoxConfig, newBoxState } from "./box-record.ts";
import type { Home } from "./home.ts";
import { imageContext } from "./images.ts";
import { type BoxOptions, checkBoxOptions } from "../model/box-options.ts";
import { boxHostname, processSpec, withDefaults } from "./options.ts";
import { type HostVolume, isHostVolume, isNamedVolume, type VolumeMount } from "../model/volumes.ts";
import { getVolume, lockVolumes, volumeDataDir } from "./named-volumes.ts";

const nextUlid = monotonicFactory();

/**
 * A new box id: a lowercased ULID, increasing even within one millisecond, so that boxes
 * created in the same millisecond are listed in creation order (the listing breaks such
 * ties by id, see NEWEST_FIRST in db/listing-indexes.ts).
 */
export function newBoxId(): string {
  return nextUlid().toLowerCase();
}

/** Creates the box and returns its id; nothing is left behind when it fails. A box lives on its own unless `options.detach` says otherwise. */
export async function createBox(home: Home, options: BoxOptions, onPull?: (event: PullEvent) => void): Promise<string> {
  const { config } = home;
  checkBoxOptions(options);
  const images = imageContext(home);
  const image = options.rootfsPath !== undefined ? await resolveRootfs(images, options.rootfsPath) : await resolveImage(images, options.image, onPull);
  const id = newBoxId();
  // The command must make sense now (an image with no CMD and none given), not at start.
  processSpec(options, image.config, boxHostname(id));
  const layout = boxLayout(config, id);
  const made: string[] = [];
  let volumes: HostVolume[] | undefined;
  // Held until the record is in: a volume cannot be removed between being found and being in use.
  using _volumesLock = options.volumes?.some(isNamedVolume) ? await lockVolumes(config.home, "create a box with a named volume") : undefined;
  try {
    volumes = options.volumes?.map((volume) => volumeMade(home, volume, made));
  } catch (error) {
    removeAll(made);
    throw error;
  }
  // The image as resolved (the default image's name, a pulled reference) is what the record keeps.
  // The server's --security decides for the boxes it makes (a REST client cannot set it).
  const secured = { ...options, ...(options.security === undefined && config.security ? { security: config.security } : {}) };
  const named = secured.rootfsPath !== undefined ? secured : { ...secured, image: image.name };
  const resolved = withDefaults(volumes ? { ...named, volumes } : named, true);
  // The record first: a box directory always has a record, so a directory without one is
  // an orphan that recovery may delete (home.ts).
  try {
    insertBox(home.database.db, newBoxConfig(id, resolved, layout.dir), newBoxState("configured"));
  } catch (error) {
    removeAll(made);
    throw error;
  }
  try {
    for (const sub of ["disks", "logs"]) mkdirSync(join(layout.dir, sub), { recursive: true });
    createOverlay({ path: layout.disk, backingFile: image.basePath, backingFormat: "raw", virtualSize: diskSize(image.basePath, options.diskSizeGb) });
    writeFileSync(layout.imageRecord, JSON.stringify(image));
  } catch (error) {
    deleteBox(home.database.db, id);
    rmSync(layout.dir, { recursive: true, force: true });
    removeAll(made);
    throw error;
  }
  return id;
}

const GIB = 1024 * 1024 * 1024;

/**
 * The overlay's virtual size: the larger of `diskSizeGb` GiB and the base (never smaller,
 * which would cut the filesystem off). The guest grows the filesystem to fill the device
 * at each start (docs/guest-protocol.md, "Configuration").
 */
export function diskSize(basePath: string, diskSizeGb: number | undefined): number {
  const base = statSync(basePath).size;
  // qcow2 sizes are whole 512-byte sectors; mke2fs's bases are whole 4 KiB blocks already.
  const baseSize = Math.ceil(base / 512) * 512;
  return Math.max(baseSize, (diskSizeGb ?? 0) * GIB);
}

/**
 * A host volume as it is; a named one as its volume's `data/` (tagged with its id); an
 * anonymous one as a new directory `<home>/volumes/anonymous/<id>` (the reference's place),
 * recorded as a host path. Such a directory outlives the box, as docker's and the
 * reference's do; `made` collects it so that a failed create removes it.
 */
function volumeMade(home: Home, volume: VolumeMount, made: string[]): HostVolume {
  if (isHostVolume(volume)) return volume;
  if (isNamedVolume(volume)) {
    const { id } = getVolume(home.config.home, volume.volume);
    return { hostPath: volumeDataDir(home.config.home, id), guestPath: volume.guestPath, readOnly: volume.readOnly, volume: id };
  }
  const hostPath = join(home.config.home, "volumes", "anonymous", newBoxId());
  mkdirSync(hostPath, { recursive: true, mode: 0o755 });
  made.push(hostPath);
  return { hostPath, guestPath: volume.guestPath, readOnly: volume.readOnly, anonymous: true };
}

function removeAll(paths: string[]): void {
  for (const path of paths) rmSync(path, { recursive: true, force: true });
}

/** The image a box was created from: `image.json`, or (a box from the reference) resolved again. */
export async function boxImage(home: Home, id: string, imageName: string | undefined): Promise<ImageBase> {
  const path = boxLayout(home.config, id).imageRecord;
  if (existsSync(path)) return JSON.parse(readFileSync(path, "utf8")) as ImageBase;
  return resolveImage(imageContext(home), imageName);
}
