/**
 * Creating a box: its image resolved (pulled when needed), its record (`configured`),
 * its directory with the disk overlay, and `image.json` — the image as resolved, so that
 * starting the box later never needs a registry, even after `rmi -f`.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  // The image as resolved (the default image's name, a pulled reference) is what the record keeps.
  const resolved = withDefaults(options.rootfsPath !== undefined ? options : { ...options, image: image.name }, true);
  // The record first: a box directory always has a record, so a directory without one is
  // an orphan that recovery may delete (home.ts).
  insertBox(home.database.db, newBoxConfig(id, resolved, layout.dir), newBoxState("configured"));
  try {
    for (const sub of ["disks", "logs"]) mkdirSync(join(layout.dir, sub), { recursive: true });
    createOverlay({ path: layout.disk, backingFile: image.basePath, backingFormat: "raw" });
    writeFileSync(layout.imageRecord, JSON.stringify(image));
  } catch (error) {
    deleteBox(home.database.db, id);
    rmSync(layout.dir, { recursive: true, force: true });
    throw error;
  }
  return id;
}

/** The image a box was created from: `image.json`, or (a box from the reference) resolved again. */
export async function boxImage(home: Home, id: string, imageName: string | undefined): Promise<ImageBase> {
  const path = boxLayout(home.config, id).imageRecord;
  if (existsSync(path)) return JSON.parse(readFileSync(path, "utf8")) as ImageBase;
  return resolveImage(imageContext(home), imageName);
}
