/** Deleting a box for good: its rows, its directory and its lock file. The caller holds its lock. */
import type { Config } from "../config/config.ts";
import { removeBaseDiskRefs } from "../db/bases.ts";
import { deleteBox } from "../db/boxes.ts";
import type { HomeDatabase } from "../db/database.ts";
import { collectBases, keepWhatOthersNeed } from "./bases.ts";
import { removeBoxLock } from "./box-lock.ts";
import { removeJailLeftovers } from "../vmm/jail/jail.ts";
import { boxLayout, removeBox } from "./box-layout.ts";

export function discardBox(config: Config, database: HomeDatabase, id: string): void {
  // Its snapshots may sit under another box's clone base: those files are kept for it.
  keepWhatOthersNeed(config, database, id);
  const bases = removeBaseDiskRefs(database.db, id);
  deleteBox(database.db, id);
  removeBox(boxLayout(config, id));
  removeBoxLock(config, id);
  removeJailLeftovers(config, id);
  collectBases(config, database, bases);
}
