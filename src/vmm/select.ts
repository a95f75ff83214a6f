/** Picks the VMM backend: `--vmm`/BOXLITE_VMM when forced, else the best that works here. */
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import type { GuestAssets, VmmBackend } from "./backend.ts";
import { QemuBackend } from "./qemu/qemu.ts";

export interface BackendChoice {
  backend: VmmBackend;
  /** Why each other backend was not chosen. */
  rejected: Array<{ name: string; reason: string }>;
}

const KRUN_UNAVAILABLE = "the krun backend (libkrun) is not part of this build yet";

export function selectBackend(config: Config, assets: GuestAssets): BackendChoice {
  if (config.vmm === "krun") throw new BoxliteError("unsupported", `BOXLITE_VMM=krun: ${KRUN_UNAVAILABLE}; use qemu`);
  return { backend: new QemuBackend(config, assets), rejected: config.vmm === "auto" ? [{ name: "krun", reason: KRUN_UNAVAILABLE }] : [] };
}
