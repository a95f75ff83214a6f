/**
 * The guest's system disk: a tiny read-only ext4 whose /init is the guest agent
 * (libkrunfw has no initramfs support, so the agent must come from a disk). Built once
 * per agent build and cached in the runtime directory, reproducibly: the same agent makes
 * the same bytes on every machine, so a suspended box's state, which holds the guest's view
 * of this disk, resumes on another machine (docs/suspend.md).
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import agentPath from "../../build/guest/boxlite-guest.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { buildExt4FromDir } from "../disk/ext4.ts";
import { BoxliteError } from "../util/errors.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";

/** A UUID made of the agent's hash: reproducible, and still one per agent build. */
function uuidOf(hash: string): string {
  return `${hash.slice(0, 8)}-${hash.slice(8, 12)}-${hash.slice(12, 16)}-${hash.slice(16, 20)}-${hash.slice(20, 32)}`;
}

/** Mount points the agent needs on its read-only root. */
export const MOUNT_POINTS = ["proc", "sys", "dev", "tmp", "run", "rootfs"];

/** The agent's bytes: the one built in, or BOXLITE_GUEST_AGENT's. */
async function agentBytes(config: Config): Promise<Uint8Array> {
  if (config.guestAgent === undefined) return Bun.file(agentPath).bytes();
  try {
    return await Bun.file(config.guestAgent).bytes();
  } catch (error) {
    throw new BoxliteError(
      "invalid_argument",
      `BOXLITE_GUEST_AGENT=${config.guestAgent} cannot be read (${(error as Error).message}); unset it to boot the built-in agent`,
    );
  }
}

export async function prepareSystemDisk(config: Config): Promise<string> {
  const agent = await agentBytes(config);
  const agentHash = sha256Hex(agent);
  // "system2": the disks before them were not reproducible.
  const path = join(config.runtimeDir, "system", `system2-${agentHash.slice(0, 12)}.ext4`);
  return cachedFile(path, async (tmpPath) => {
    mkdirSync(join(config.runtimeDir, "system"), { recursive: true });
    const root = mkdtempSync(join(config.runtimeDir, "system", "root-"));
    try {
      for (const dir of MOUNT_POINTS) mkdirSync(join(root, dir));
      await Bun.write(join(root, "init"), agent);
      chmodSync(join(root, "init"), 0o755);
      chmodSync(root, 0o755);
      buildExt4FromDir(root, tmpPath, { headroom: 0, journal: false, reproducibleUuid: uuidOf(agentHash) });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
}
