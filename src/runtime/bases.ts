/**
 * Clone bases and box removal (docs/snapshots.md): a base is kept while a box refers to it
 * (`base_disk_ref`) or any disk's chain goes through it, and deleted, cascading down its
 * own chain, once neither holds. A removed box's files that other boxes still need (a
 * snapshot under a clone base) move to `bases/` first, so removal never breaks a chain.
 */
import { existsSync, linkSync, readdirSync, rmSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { deleteBaseDisk, findBaseDiskByPath, getBaseDisk, insertBaseDisk, listBaseDiskDependents, mintBaseDiskId } from "../db/bases.ts";
import type { HomeDatabase } from "../db/database.ts";
import { readQcow2Info, setBackingFile } from "../disk/qcow2.ts";
import { boxLayout } from "./box-layout.ts";
import { backingChain, type DiskUser, homeDisks } from "./disk-usage.ts";

function hasCloneBases(config: Config): boolean {
  const dir = join(config.home, "bases");
  return existsSync(dir) && readdirSync(dir).some((name) => name.endsWith(".qcow2"));
}

/**
 * Before box `boxId`'s directory goes: each of its disk files some other disk's chain goes
 * through gets a second name `bases/<id>.qcow2` (a row of kind clone_base), and the disks
 * backed by it are pointed there. Hard links first, so every chain stays whole at each step.
 */
export function keepWhatOthersNeed(config: Config, database: HomeDatabase, boxId: string): void {
  if (!hasCloneBases(config)) return; // only a clone base links one box's chain to another's
  const boxDir = `${boxLayout(config, boxId).dir}/`;
  const disks = homeDisks(config, database);
  const outside = disks.filter((disk) => !resolve(disk.path).startsWith(boxDir));
  const needed = new Set<string>();
  for (const disk of outside) for (const file of backingChain(disk.path)) if (file.startsWith(boxDir)) needed.add(file);
  if (needed.size === 0) return;
  const moved = new Map<string, string>();
  for (const file of needed) {
    const id = mintBaseDiskId();
    const dest = join(config.home, "bases", `${id}.qcow2`);
    linkSync(file, dest);
    const info = readQcow2Info(file);
    insertBaseDisk(database.db, {
      id,
      source_box_id: boxId,
      name: null,
      kind: "clone_base",
      base_path: dest,
      container_disk_bytes: info.virtualSize,
      size_bytes: 0,
      created_at: Math.floor(Date.now() / 1000),
    });
    moved.set(file, dest);
  }
  // Every disk that names a moved file as its backing file, wherever it is, now names the new place.
  const children: DiskUser[] = [...outside, ...[...moved.values()].map((path) => ({ path, what: "moved" }))];
  for (const child of children) {
    const backing = readQcow2Info(child.path).backingFile;
    if (backing === undefined) continue;
    const target = moved.get(resolve(dirname(child.path), backing));
    if (target !== undefined) setBackingFile(child.path, target, "qcow2");
  }
}

/**
 * Deletes the `candidates` (base ids) nothing needs any more, then the bases below them
 * that this freed. Run once the boxes that referred to them are gone.
 */
export function collectBases(config: Config, database: HomeDatabase, candidates: readonly string[]): void {
  if (candidates.length === 0) return;
  const disks = homeDisks(config, database);
  let queue = candidates.map((id) => getBaseDisk(database.db, id)?.base_path);
  const deleted = new Set<string>();
  while (queue.length > 0) {
    const next: Array<string | undefined> = [];
    for (const path of queue) {
      if (path === undefined) continue;
      const row = findBaseDiskByPath(database.db, path);
      if (row === undefined || row.kind === "rootfs") continue;
      if (listBaseDiskDependents(database.db, row.id).length > 0) continue;
      if (disks.some((disk) => disk.path !== path && !deleted.has(disk.path) && backingChain(disk.path).includes(resolve(path)))) continue;
      const below = backingChain(path)[0];
      deleteBaseDisk(database.db, row.id);
      rmSync(path, { force: true });
      deleted.add(path);
      next.push(below);
    }
    queue = next;
  }
}
