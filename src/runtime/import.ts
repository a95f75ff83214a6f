/**
 * Importing a `.boxlite` archive as a new stopped box (docs/archive.md): the archive is read
 * into the home's `tmp/` (checked, bounded, checksummed), its disk must be a standalone
 * qcow2 (an imported image never names a host file as its backing file), and the disk is
 * moved into a new box whose options are the archive's. An untrusted import (REST) may not
 * reach the host: a rootfs path, a local image path or any volume is refused, as the
 * reference's policy says. A suspended box's saved state (archive v6) becomes the new box's:
 * it is suspended, and resumes where the exported box was. Nothing is left behind when an
 * import fails.
 */
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getBoxByName, insertBox } from "../db/boxes.ts";
import { type ArchiveManifest, readArchive } from "../disk/archive.ts";
import { readQcow2Info } from "../disk/qcow2.ts";
import type { ImageBase, ImageConfig } from "../image/image.ts";
import { resolveImage } from "../image/resolve.ts";
import { type BoxOptions, checkBoxOptions } from "../model/box-options.ts";
import { optionsFromRecord } from "../model/codec.ts";
import { isHostVolume } from "../model/volumes.ts";
import { BoxliteError } from "../util/errors.ts";
import { lockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { type MemoryManifest, parseMemoryManifest, placeMemory } from "./box-memory.ts";
import { newBoxConfig, newBoxState } from "./box-record.ts";
import { newBoxId } from "./create.ts";
import { crashPoint } from "../config/crash.ts";
import type { Home } from "./home.ts";
import { imageContext } from "./images.ts";
import { withDefaults } from "./options.ts";

export interface ImportOptions {
  /** The new box's name; default: the archive's, when no box has it. */
  name?: string;
  /** From a REST client: nothing of the archive may reach the host's files. */
  untrusted?: boolean;
}

const LOCAL_IMAGE = /^(oci|docker-archive):/;

function refuse(why: string): BoxliteError {
  return new BoxliteError("invalid_argument", `cannot import this archive: ${why}`);
}

/** The box's options as the archive gives them, checked against the import policy. */
function importedOptions(manifest: ArchiveManifest, untrusted: boolean): BoxOptions {
  const stored = manifest.box_options;
  const options: BoxOptions = stored ? optionsFromRecord({ id: "imported", created_at: manifest.exported_at, options: structuredClone(stored) as never }) : {};
  if (options.rootfsPath === undefined && options.image === undefined) options.image = manifest.image;
  if (untrusted) {
    if (options.rootfsPath !== undefined) throw refuse("it was made from a rootfs path on its host; a server imports only image-based boxes");
    if (options.image !== undefined && LOCAL_IMAGE.test(options.image)) throw refuse(`its image ${options.image} is a path on its host`);
    if ((options.volumes?.length ?? 0) > 0) throw refuse("it mounts volumes (host paths); a server imports no volumes");
  }
  for (const volume of options.volumes ?? []) {
    if (isHostVolume(volume) && !existsSync(volume.hostPath))
      throw refuse(`its volume ${volume.hostPath} does not exist on this host; create it first, or export the box without volumes`);
    if (!isHostVolume(volume)) throw refuse("it mounts a named volume, which belongs to another home");
  }
  // The box is new here: it lives on its own and keeps its disk when it stops.
  const { name: _name, detach: _detach, autoRemove: _autoRemove, ...rest } = options;
  checkBoxOptions(rest);
  return rest;
}

/** The image config the box boots with: the archive's, else the image's own (which may need a pull). */
async function imageFor(home: Home, manifest: ArchiveManifest, options: BoxOptions): Promise<ImageBase> {
  const name = options.image ?? options.rootfsPath ?? manifest.image;
  if (manifest.image_config) return { name, digest: "", basePath: "", config: manifest.image_config as unknown as ImageConfig };
  if (options.rootfsPath !== undefined) throw refuse("it carries no image config and its rootfs path cannot be resolved here");
  const image = await resolveImage(imageContext(home), options.image);
  return { ...image, basePath: "" };
}

/**
 * The archive's saved state, checked: its manifest's own checksum and size must be the
 * member's. A server does not take one: QEMU parses a saved state as trusted input, and an
 * uploaded one is not.
 */
function importedMemory(manifest: ArchiveManifest, statePath: string | null, untrusted: boolean): MemoryManifest | undefined {
  if (manifest.memory === undefined || statePath === null) return undefined;
  if (untrusted)
    throw refuse(
      "it carries a suspended box's memory, which a server does not load (QEMU trusts a saved state); import it with the CLI, or stop the box before exporting it",
    );
  let memory: MemoryManifest;
  try {
    memory = parseMemoryManifest(manifest.memory);
  } catch (error) {
    throw refuse(`its "memory" is not a saved state this boxlite knows: ${(error as Error).message}`);
  }
  if (manifest.memory_checksum !== `sha256:${memory.state_sha256}` || statSync(statePath).size !== memory.state_bytes)
    throw refuse(`its memory.state is not the one its "memory" describes (size or checksum differ)`);
  return memory;
}

function chooseName(home: Home, wanted: string | undefined, archived: string | null): string | undefined {
  if (wanted !== undefined) {
    if (getBoxByName(home.database.db, wanted))
      throw new BoxliteError("already_exists", `a box named ${JSON.stringify(wanted)} already exists; choose another --name`);
    return wanted;
  }
  return archived !== null && !getBoxByName(home.database.db, archived) ? archived : undefined;
}

/** Makes a new stopped box from the archive at `path`; returns its id. */
export async function importBox(home: Home, path: string, options: ImportOptions = {}): Promise<string> {
  const { config, database } = home;
  if (options.name !== undefined && getBoxByName(database.db, options.name))
    throw new BoxliteError("already_exists", `a box named ${JSON.stringify(options.name)} already exists; choose another --name`);
  mkdirSync(join(config.home, "tmp"), { recursive: true });
  const staging = mkdtempSync(join(config.home, "tmp", `import-${process.pid}-`));
  const id = newBoxId();
  const layout = boxLayout(config, id);
  // Held until its record is in: a sweep takes a directory without a record for an orphan unless its lock is held.
  using _making = lockBox(config, id, "import");
  try {
    const { manifest, containerDisk, memoryState } = await readArchive(path, staging);
    crashPoint(config, "import-read");
    const disk = readQcow2Info(containerDisk);
    if (disk.backingFile !== undefined) throw refuse(`its disk names a backing file (${disk.backingFile}); an archive's disk must be standalone`);
    const boxOptions = importedOptions(manifest, options.untrusted === true);
    const memory = importedMemory(manifest, memoryState, options.untrusted === true);
    const image = await imageFor(home, manifest, boxOptions);
    const name = chooseName(home, options.name, manifest.box_name);
    // The directory and its disk first: a crash before the record leaves an orphan directory,
    // which opening the home sweeps, never a record without its disk.
    mkdirSync(join(layout.dir, "disks"), { recursive: true });
    mkdirSync(join(layout.dir, "logs"), { recursive: true });
    renameSync(containerDisk, layout.disk);
    writeFileSync(layout.imageRecord, JSON.stringify(image));
    if (memory && memoryState) await placeMemory(layout.dir, memoryState, memory);
    crashPoint(config, "import-placed");
    const resolved = withDefaults({ ...boxOptions, ...(name !== undefined ? { name } : {}) }, true);
    insertBox(database.db, newBoxConfig(id, resolved, layout.dir), newBoxState("stopped"));
    crashPoint(config, "import-recorded");
    return id;
  } catch (error) {
    rmSync(layout.dir, { recursive: true, force: true });
    throw error;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
