/**
 * The guest's system disk: a tiny read-only ext4 whose /init is the guest agent
 * (libkrunfw has no initramfs support, so the agent must come from a disk). Built once
 * per agent build and cached in the runtime directory.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import agentPath from "../../build/guest/boxlite-guest.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { buildExt4FromDir } from "../disk/ext4.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";

/** Mount points the agent needs on its read-only root. */
export const MOUNT_POINTS = ["proc", "sys", "dev", "tmp", "run", "rootfs"];

export async function prepareSystemDisk(config: Config): Promise<string> {
  const agent = await Bun.file(agentPath).bytes();
  const path = join(config.runtimeDir, "system", `system-${sha256Hex(agent).slice(0, 12)}.ext4`);
  return cachedFile(path, async (tmpPath) => {
    mkdirSync(join(config.runtimeDir, "system"), { recursive: true });
    const root = mkdtempSync(join(config.runtimeDir, "system", "root-"));
    try {
      for (const dir of MOUNT_POINTS) mkdirSync(join(root, dir));
      await Bun.write(join(root, "init"), agent);
      chmodSync(join(root, "init"), 0o755);
      chmodSync(root, 0o755);
      buildExt4FromDir(root, tmpPath, { headroom: 0, journal: false });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}
