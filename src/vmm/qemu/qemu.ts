/**
 * The qemu backend: each box is a `qemu-system-<arch> -M microvm` process, run under the
 * vmm-watch watchdog (src/vmm/process.ts) so it dies with the boxlite process that started it.
 */
import type { Config } from "../../config/config.ts";
import type { BackendInfo, GuestAssets, VmmBackend, VmProcess, VmSpec } from "../backend.ts";
import { spawnVmm } from "../process.ts";
import { type AccelVerdict, chooseAccelerator } from "./accel.ts";
import { boxArgs } from "./args.ts";
import { findQemu } from "./binary.ts";

export class QemuBackend implements VmmBackend {
  readonly name = "qemu" as const;
  private verdict?: Promise<AccelVerdict>;

  constructor(
    private readonly config: Config,
    private readonly assets: GuestAssets,
  ) {}

  private accelerator(): Promise<AccelVerdict> {
    this.verdict ??= chooseAccelerator(this.config, findQemu(this.config), this.assets.kernel, this.assets.systemDisk);
    return this.verdict;
  }

  async describe(): Promise<BackendInfo> {
    const binary = findQemu(this.config);
    const verdict = await this.accelerator();
    return { name: this.name, accelerator: verdict.accelerator, reason: verdict.reason, binary };
  }

  async start(spec: VmSpec): Promise<VmProcess> {
    const verdict = await this.accelerator();
    return spawnVmm(this.config, { what: "QEMU", argv: [findQemu(this.config), ...boxArgs(spec, verdict.accelerator)], agentSocketPath: spec.agentSocketPath });
  }
}
