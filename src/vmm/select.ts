/**
 * Picks the VMM backend: `--vmm`/BOXLITE_VMM when forced, else the best that works here —
 * krun when libkrun loads and a probe VM boots, else qemu (which itself picks KVM/HVF
 * when a probe boots, else TCG). The choice is made once per process and configuration.
 */
import type { Config } from "../config/config.ts";
import type { GuestAssets, VmmBackend } from "./backend.ts";
import { loadLibkrun } from "./krun/ffi.ts";
import { KrunBackend, probeKrun } from "./krun/krun.ts";
import { QemuBackend } from "./qemu/qemu.ts";

export interface BackendChoice {
  backend: VmmBackend;
  /** Why each other backend was not chosen. */
  rejected: Array<{ name: string; reason: string }>;
}

const FORCED = "forced by --vmm/BOXLITE_VMM";

async function choose(config: Config, assets: GuestAssets): Promise<BackendChoice> {
  if (config.vmm === "qemu") return { backend: new QemuBackend(config, assets), rejected: [{ name: "krun", reason: `not tried: qemu ${FORCED}` }] };
  // Forced krun fails here, with how to install libkrun, when the library is missing.
  if (config.vmm === "krun")
    return { backend: new KrunBackend(config, loadLibkrun(config), FORCED), rejected: [{ name: "qemu", reason: `not tried: krun ${FORCED}` }] };
  let reason: string;
  try {
    const lib = loadLibkrun(config);
    const probe = await probeKrun(config, assets, lib);
    if (probe.ok) return { backend: new KrunBackend(config, lib, probe.reason), rejected: [{ name: "qemu", reason: "not needed: krun works here" }] };
    reason = probe.reason;
  } catch (error) {
    reason = error instanceof Error ? error.message : String(error);
  }
  return { backend: new QemuBackend(config, assets), rejected: [{ name: "krun", reason }] };
}

const chosen = new WeakMap<Config, Promise<BackendChoice>>();

export function selectBackend(config: Config, assets: GuestAssets): Promise<BackendChoice> {
  let choice = chosen.get(config);
  if (!choice) {
    choice = choose(config, assets);
    chosen.set(config, choice);
    // A failed choice (forced krun without libkrun) is not remembered: the next call says it again.
    choice.catch(() => chosen.delete(config));
  }
  return choice;
}
