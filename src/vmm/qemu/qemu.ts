/**
 * The qemu backend: each box is a `qemu-system-<arch> -M microvm` process, run with its
 * helpers under the vmm-watch watchdog (src/vmm/process.ts) so they die with the boxlite
 * process that started them.
 */
import { closeSync, openSync } from "node:fs";
import type { Config } from "../../config/config.ts";
import { crashPoint } from "../../config/crash.ts";
import {
  type BackendInfo,
  checkVmSpec,
  type GuestAssets,
  type ResumeFrom,
  type ShareSource,
  type StartOptions,
  type VmControl,
  type VmmBackend,
  type VmProcess,
  type VmSpec,
} from "../backend.ts";
import type { WakeDisk } from "../../guest-protocol/wake.ts";
import { agentSocketOf } from "../devices.ts";
import { fsdHelper, prepareFsd } from "../fsd.ts";
import { jailHost, jailIdentity } from "../jail/jail.ts";
import { spawnVmm } from "../process.ts";
import { type AccelVerdict, chooseAccelerator } from "./accel.ts";
import { boxArgs, qmpSocketOf, SHARES_TAG, sharesSocketOf, type StartFrom } from "./args.ts";
import { QemuControl } from "./control.ts";
import { findQemu } from "./binary.ts";
import { loadVm, waitForAgentClient } from "./migration.ts";
import { QmpClient } from "./qmp.ts";
import { qemuJail } from "./jail.ts";
import { announceBoxDisks } from "./stand-ins.ts";
import { checkIdentity, saveRefusal, vmIdentity } from "./suspend.ts";
import { type Template, Templates, templatesDir } from "./templates.ts";

/** How long a restored guest's host may take to connect before the VM is given up on. */
const CONNECT_TIMEOUT_MS = 10_000;

export class QemuBackend implements VmmBackend {
  readonly name = "qemu" as const;
  private verdict?: Promise<AccelVerdict>;
  private settledAccelerator?: string;
  private templates?: Templates;

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
    const templates = this.config.templates
      ? {
          enabled: true,
          reason: "boxes start by restoring a saved, booted guest of their shape (boxes with volumes boot cold)",
          dir: templatesDir(this.config),
        }
      : { enabled: false, reason: "BOXLITE_TEMPLATES=off: every box boots cold" };
    const suspend = { enabled: true, reason: "a box's whole state can be saved to its directory and resumed (not a box with volumes)" };
    return { name: this.name, accelerator: verdict.accelerator, reason: verdict.reason, binary, templates, suspend };
  }

  /** fsd serves every share on one device, each a directory named by its tag (args.ts sharesArgs). */
  shareSource(tag: string): ShareSource {
    return { tag: SHARES_TAG, subdir: tag };
  }

  control(_vm: VmProcess, spec: VmSpec): VmControl {
    const binary = findQemu(this.config);
    return new QemuControl(qmpSocketOf(spec), {
      refusal: saveRefusal(spec),
      // Started, the VM has an accelerator: the verdict is settled.
      identity: (ram) => vmIdentity(spec, binary, this.settledAccelerator ?? "", ram),
    });
  }

  async start(spec: VmSpec, options: StartOptions = {}): Promise<VmProcess> {
    checkVmSpec(spec);
    const verdict = await this.accelerator();
    this.settledAccelerator = verdict.accelerator;
    const binary = findQemu(this.config);
    if (options.resume) return this.resume(spec, binary, verdict.accelerator, options.resume);
    this.templates ??= new Templates(this.config, binary, verdict.accelerator);
    const template = options.cold ? undefined : await this.templates.forSpec(spec);
    if (template) {
      const templates = this.templates;
      try {
        return await this.restore(spec, binary, verdict.accelerator, template);
      } catch (error) {
        templates.discard(template, String(error));
      }
    }
    return this.spawn(spec, [binary, ...boxArgs(spec, verdict.accelerator)], binary, verdict.accelerator);
  }

  /** Starts QEMU on `template`: the box's own devices, the template's memory mapped copy-on-write, its device state loaded. */
  private restore(spec: VmSpec, binary: string, accelerator: string, template: Template): Promise<VmProcess> {
    const from: StartFrom = { ramFile: { path: template.ramPath, shared: false }, incoming: true };
    const templates = this.templates;
    // QEMU 7.2 opens a memory file read-write even to map it privately: the jailed VMM gets it so (docs/security.md says what that leaves open).
    return this.load(spec, [binary, ...boxArgs(spec, accelerator, from)], { binary, accelerator, readWrite: [template.ramPath] }, template.statePath, {
      ramInFile: true,
      standIns: true,
      loadedCrashPoint: "template-restored",
      failed: (why) => templates?.discard(template, why),
    });
  }

  /** Starts QEMU on a suspended box's saved state (docs/suspend.md): the box's devices, its RAM from the state. */
  private resume(spec: VmSpec, binary: string, accelerator: string, resume: ResumeFrom): Promise<VmProcess> {
    const ramId = checkIdentity(resume.identity, spec, binary, accelerator);
    const from: StartFrom = { ...(ramId === undefined ? {} : { ramId }), incoming: true };
    return this.load(spec, [binary, ...boxArgs(spec, accelerator, from)], { binary, accelerator, readWrite: [] }, resume.statePath, {
      ramInFile: false,
      standIns: false,
      verified: resume.verified,
      beforeRun: () => resume.consumed(),
      failed: () => {},
    });
  }

  /** Spawns QEMU waiting for a saved state (`-incoming defer`) and loads `statePath`; it runs once the host's channel is connected. */
  private async load(
    spec: VmSpec,
    argv: string[],
    vmm: { binary: string; accelerator: string; readWrite: string[] },
    statePath: string,
    how: { ramInFile: boolean; standIns: boolean; loadedCrashPoint?: string; verified?: Promise<void>; beforeRun?(): void; failed(why: string): void },
  ): Promise<VmProcess> {
    // QEMU reads the state itself, from a descriptor it inherits (migration.ts, loadVm).
    const state = openSync(statePath, "r");
    let vm: VmProcess;
    try {
      vm = await this.spawn(spec, argv, vmm.binary, vmm.accelerator, { readWrite: vmm.readWrite, file: state });
    } finally {
      closeSync(state);
    }
    let qmp: QmpClient | undefined;
    let disks: WakeDisk[] = [];
    try {
      qmp = await QmpClient.connect(qmpSocketOf(spec));
      await loadVm(qmp, statePath, { ramInFile: how.ramInFile });
      if (how.standIns) disks = await announceBoxDisks(qmp, spec);
      if (how.loadedCrashPoint) crashPoint(this.config, how.loadedCrashPoint);
    } catch (error) {
      qmp?.close();
      vm.kill("SIGKILL");
      await vm.exited;
      // A state that fails its checksum is why QEMU could not load it: that is the error to report.
      await how.verified;
      throw error;
    }
    const control = qmp;
    vm.restored = {
      disks,
      run: async () => {
        try {
          await waitForAgentClient(control, CONNECT_TIMEOUT_MS);
          await how.verified;
          how.beforeRun?.();
          await control.execute("cont");
        } finally {
          control.close();
        }
      },
      failed: how.failed,
    };
    return vm;
  }

  /** `readWrite`: files the jailed VMM may also write; `file`: an open file it gets as VMM_FILE_FD. */
  private async spawn(
    spec: VmSpec,
    argv: string[],
    binary: string,
    accelerator: string,
    extra: { readWrite?: string[]; file?: number } = {},
  ): Promise<VmProcess> {
    // QEMU has no virtio-fs server of its own: fsd serves the shares, ready before QEMU dials it.
    const shares = spec.devices
      .filter((device) => device.kind === "fs")
      .map((device) => ({
        name: device.tag,
        hostPath: device.hostPath,
        readOnly: device.readOnly,
        ...(device.onlyName !== undefined ? { onlyName: device.onlyName } : {}),
      }));
    // A jailed QEMU of a root boxlite runs as the box's uid, fsd as root: the socket is given to the box.
    const owner = spec.jail && jailHost(this.config).root ? jailIdentity(spec.boxId) : undefined;
    const helpers = shares.length > 0 ? [...spec.helpers, fsdHelper(await prepareFsd(this.config), sharesSocketOf(spec), shares, owner)] : spec.helpers;
    const jail = spec.jail ? { jail: qemuJail(spec, binary, accelerator, { readWrite: extra.readWrite ?? [] }) } : {};
    const file = extra.file === undefined ? {} : { file: extra.file };
    return spawnVmm(this.config, { what: "QEMU", argv, agentSocketPath: agentSocketOf(spec.devices), helpers, ...jail, ...file });
  }
}
