/**
 * The qemu backend: each box is a `qemu-system-<arch> -M microvm` process, run with its
 * helpers under the vmm-watch watchdog (src/vmm/process.ts) so they die with the boxlite
 * process that started them.
 */
import type { Config } from "../../config/config.ts";
import { type BackendInfo, checkVmSpec, type GuestAssets, type ShareSource, type VmControl, type VmmBackend, type VmProcess, type VmSpec } from "../backend.ts";
import { agentSocketOf } from "../devices.ts";
import { fsdHelper, prepareFsd } from "../fsd.ts";
import { spawnVmm } from "../process.ts";
import { type AccelVerdict, chooseAccelerator } from "./accel.ts";
import { boxArgs, qmpSocketOf, SHARES_TAG, sharesSocketOf } from "./args.ts";
import { QemuControl } from "./control.ts";
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

  /** fsd serves every share on one device, each a directory named by its tag (args.ts sharesArgs). */
  shareSource(tag: string): ShareSource {
    return { tag: SHARES_TAG, subdir: tag };
  }

  control(_vm: VmProcess, spec: VmSpec): VmControl {
    return new QemuControl(qmpSocketOf(spec));
  }

  async start(spec: VmSpec): Promise<VmProcess> {
    checkVmSpec(spec);
    const verdict = await this.accelerator();
    const argv = [findQemu(this.config), ...boxArgs(spec, verdict.accelerator)];
    // QEMU has no virtio-fs server of its own: fsd serves the shares, ready before QEMU dials it.
    const shares = spec.devices
      .filter((device) => device.kind === "fs")
      .map((device) => ({
        name: device.tag,
        hostPath: device.hostPath,
        readOnly: device.readOnly,
        ...(device.onlyName !== undefined ? { onlyName: device.onlyName } : {}),
      }));
    const helpers = shares.length > 0 ? [...spec.helpers, fsdHelper(await prepareFsd(this.config), sharesSocketOf(spec), shares)] : spec.helpers;
    return spawnVmm(this.config, { what: "QEMU", argv, agentSocketPath: agentSocketOf(spec.devices), helpers });
  }
}
