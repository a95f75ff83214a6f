/**
 * Which disk files of a home need which: every qcow2 a home holds (each box's live disk,
 * each snapshot, each base) with its whole backing chain. A file may be deleted only when
 * no chain but its own goes through it — snapshots, clone bases and image bases alike.
 */
import { existsSync, readdirSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Config } from "../config/config.ts";
import { listBoxes } from "../db/boxes.ts";
import type { HomeDatabase } from "../db/database.ts";
import { listSnapshots, snapshotDiskPath } from "../db/snapshots.ts";
import { chainPathsAsFarAsReadable } from "../disk/chain.ts";
import { boxLayout } from "./box-layout.ts";

/** qemu's own limit on backing chains is far above what boxlite makes; this only stops loops. */
const MAX_CHAIN = 256;

/** The files below `path`, nearest first (a raw image ends the chain); stops at a missing or unreadable one, which is in the list. */
export function backingChain(path: string): string[] {
  return chainPathsAsFarAsReadable(path, MAX_CHAIN + 1).slice(1);
}

/** A disk file of the home, named for messages. */
export interface DiskUser {
  path: string;
  /** "box X's disk", "snapshot S of box X", "clone base B". */
  what: string;
}

/** Every qcow2 the home holds. */
export function homeDisks(config: Config, database: HomeDatabase): DiskUser[] {
  const users: DiskUser[] = [];
  for (const box of listBoxes(database.db)) {
    const layout = boxLayout(config, box.id);
    users.push({ path: layout.disk, what: `box ${box.name ?? box.id}'s disk` });
    for (const snapshot of listSnapshots(database.db, box.id))
      users.push({ path: snapshotDiskPath(snapshot), what: `snapshot ${snapshot.name} of box ${box.name ?? box.id}` });
  }
  const bases = join(config.home, "bases");
  for (const name of existsSync(bases) ? readdirSync(bases) : []) {
    if (name.endsWith(".qcow2")) users.push({ path: join(bases, name), what: `clone base ${name.slice(0, -".qcow2".length)}` });
  }
  return users;
}

/** The disks whose chain goes through `path` (other than `path` itself). */
export function dependentsOf(path: string, disks: readonly DiskUser[]): DiskUser[] {
  const target = resolve(path);
  return disks.filter((disk) => resolve(disk.path) !== target && backingChain(disk.path).includes(target));
}

/** Every file some disk of the home needs (its chains, bottoms included). */
export function filesInUse(disks: readonly DiskUser[]): Set<string> {
  const used = new Set<string>();
  for (const disk of disks) for (const file of backingChain(disk.path)) used.add(file);
  return used;
}
