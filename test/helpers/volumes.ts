/** A box record that mounts a named volume, as the mounts code writes it: no VM needed. */
import { insertBox } from "../../src/db/boxes.ts";
import { newBoxConfig, newBoxState } from "../../src/runtime/box-record.ts";
import type { Home } from "../../src/runtime/home.ts";
import { volumeDataDir } from "../../src/runtime/named-volumes.ts";
import { withDefaults } from "../../src/runtime/options.ts";

export function insertBoxUsingVolume(home: Home, boxId: string, volumeId: string): void {
  const config = newBoxConfig(boxId, withDefaults({ image: "alpine:latest" }, true), `/nowhere/${boxId}`);
  config.options.volumes = [{ host_path: volumeDataDir(home.config.home, volumeId), guest_path: "/data", read_only: false, volume: volumeId }];
  insertBox(home.database.db, config, newBoxState("stopped"));
}
