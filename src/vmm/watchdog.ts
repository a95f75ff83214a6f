/**
 * The VMM watchdog (host/vmm-watch.c), embedded and extracted once per build: a box's
 * VMM (QEMU or `boxlite __vm`) and its helpers run as its children and die with the
 * boxlite process that started them, even when that process is SIGKILLed.
 */
import { chmodSync } from "node:fs";
import { join } from "node:path";
import watchPath from "../../build/host/vmm-watch.bin" with { type: "file" };
import type { Config } from "../config/config.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";

export async function prepareWatchdog(config: Config): Promise<string> {
  const bytes = await Bun.file(watchPath).bytes();
  return cachedFile(join(config.runtimeDir, "bin", `vmm-watch-${sha256Hex(bytes).slice(0, 12)}`), async (tmp) => {
    await Bun.write(tmp, bytes);
    chmodSync(tmp, 0o755);
  });
}
