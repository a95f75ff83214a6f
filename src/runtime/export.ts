/**
 * Exporting a box to a `.boxlite` archive (docs/archive.md, docs/snapshots.md): its disk
 * chain flattened into one standalone qcow2, hashed and compressed into the archive as it is
 * read, while the disk holds still (a running box is paused by its owner until its chain has
 * been read), and the archive — manifest with the box's options and image config, and the
 * disk — written beside the destination and renamed into place. The archive has no guest disk: every boxlite boots its own system disk, and
 * the reference's newer exports carry none either. A suspended box's saved state goes with it
 * (archive version 6): an import of it resumes where the box was (docs/suspend.md).
 */
import { existsSync, linkSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { resolveExistingBox } from "../db/boxes.ts";
import { type WriteArchiveOptions, writeArchive } from "../disk/archive.ts";
import { flattenedSize } from "../disk/qcow2.ts";
import { DEFAULT_IMAGE_NAME } from "../image/default-image.ts";
import type { ImageBase } from "../image/image.ts";
import { BoxliteError } from "../util/errors.ts";
import { boxFacts, decideFor } from "./box-facts.ts";
import { boxLayout } from "./box-layout.ts";
import { findMemory } from "./box-memory.ts";
import { crashPoint } from "../config/crash.ts";
import { lockDiskOps } from "./disk-op.ts";
import type { Home } from "./home.ts";
import { withDiskStill } from "./snapshots.ts";

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The image config the box was created with (image.json), when the box has one. */
function imageConfigOf(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  const image = JSON.parse(readFileSync(path, "utf8")) as ImageBase;
  return image.config as unknown as Record<string, unknown>;
}

/**
 * The suspended box's saved state, for the archive: its file linked into the staging
 * directory while the box's lock holds it (a resume that consumes the state afterwards
 * unlinks only its own name), with its manifest and checksum. Undefined for a box that is not
 * suspended.
 */
function memoryForArchive(boxDir: string, staging: string): WriteArchiveOptions["memory"] {
  const saved = findMemory(boxDir);
  if (saved === undefined) return undefined;
  const state = join(staging, "memory.state");
  linkSync(saved.statePath, state);
  return { state, manifest: { ...saved.manifest }, checksum: `sha256:${saved.manifest.state_sha256}` };
}

/** Writes the box as an archive at `dest` (a directory: `<name or "box">.boxlite` in it); returns the archive's path. */
export async function exportBox(home: Home, idOrName: string, dest: string): Promise<string> {
  const { config, database } = home;
  const found = resolveExistingBox(database.db, idOrName);
  const out = isDirectory(dest) ? join(dest, `${found.name ?? "box"}.boxlite`) : dest;
  if (!isDirectory(dirname(out))) throw new BoxliteError("not_found", `cannot write ${out}: ${dirname(out)} is not a directory`);
  using _diskLock = lockDiskOps(config, found.id, "export");
  const box = resolveExistingBox(database.db, found.id);
  // Under the disk lock: a second operation on the box is "busy", never a status it caused.
  decideFor(box, "snapshot");
  const layout = boxLayout(config, box.id);
  const staging = mkdtempSync(join(config.home, "tmp", `export-${process.pid}-`));
  let archive: Promise<unknown> | undefined;
  try {
    const { options } = boxFacts(box);
    const imageConfig = imageConfigOf(layout.imageRecord);
    // The box holds still until its chain has been read into the archive; the manifest and
    // the final fsync come after it runs on.
    await withDiskStill(home, box, async () => {
      // Read while the box holds still: a stopped box's lock keeps a resume from consuming it.
      const memory = memoryForArchive(layout.dir, staging);
      const packed = Promise.withResolvers<void>();
      archive = writeArchive({
        dest: out,
        boxName: box.name,
        image: options.rootfsPath ?? options.image ?? DEFAULT_IMAGE_NAME,
        boxOptions: box.config.options,
        hasCapabilityPolicy: options.capabilities !== undefined,
        hasPorts: (options.ports?.length ?? 0) > 0,
        disks: { container: { chain: layout.disk, size: flattenedSize(layout.disk), packed: packed.resolve } },
        ...(imageConfig ? { imageConfig } : {}),
        ...(memory ? { memory } : {}),
        hooks: { point: (name) => crashPoint(config, `export-${name}`) },
      });
      archive.catch(() => {}); // Awaited below; a failure before the chain was read ends the wait.
      await Promise.race([packed.promise, archive]);
    });
    crashPoint(config, "export-flattened");
    await archive;
    return out;
  } finally {
    // A failed flatten fails the archive too: its own error is the one to report, but the
    // archive must have given up its files before they are removed.
    await archive?.catch(() => {});
    rmSync(staging, { recursive: true, force: true });
  }
}
