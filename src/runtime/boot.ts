/**
 * Boots a box: its directories, its disk overlay, its VM, and the guest channel once the
 * agent answers. A failure at any step kills the VM and reports the console tail.
 */
import { existsSync } from "node:fs";
import type { Config } from "../config/config.ts";
import { createOverlay } from "../disk/qcow2.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import type { ImageBase } from "../image/image.ts";
import { BoxliteError } from "../util/errors.ts";
import { fileTail } from "../util/fs.ts";
import type { GuestAssets, VmProcess, VmSpec } from "../vmm/backend.ts";
import { systemDisk, type VmDevice } from "../vmm/devices.ts";
import type { HelperCommand } from "../vmm/helpers.ts";
import { selectBackend } from "../vmm/select.ts";
import { type BoxLayout, boxLayout, createBoxDirs } from "./box-layout.ts";
import { prepareGuestAssets } from "./guest-assets.ts";
import { removeVmmPid, writeVmmGroup } from "./vmm-pid.ts";

/** After SHUTDOWN the guest powers off in milliseconds; past this the VMM is killed. */
const SHUTDOWN_GRACE_MS = 10_000;
const CONSOLE_TAIL_LINES = 15;

export interface BootOptions {
  id: string;
  image: ImageBase;
  cpus: number;
  memoryMib: number;
  /** Devices after the box's own disks and agent channel: NICs, shares (none in the product yet: networking and volumes will add them). */
  devices?: VmDevice[];
  /** Processes to run beside the VMM, ready before it starts: what serves those devices. */
  helpers?: HelperCommand[];
}

export interface BootedBox {
  layout: BoxLayout;
  vm: VmProcess;
  channel: GuestChannel;
  /** Asks the guest to power off, kills the VMM if it does not, and waits for it to exit. */
  stop(): Promise<void>;
  /** Ends the VM at once, without syncing its disks: only for a box whose disk is discarded. */
  kill(): Promise<void>;
}

/** Adds the console tail to errors about a guest that failed, so users see why. */
export function withConsoleTail(error: unknown, layout: BoxLayout): unknown {
  if (!(error instanceof BoxliteError) || !["guest_timeout", "vmm_failed", "protocol"].includes(error.code)) return error;
  const tail = fileTail(layout.consoleLog, CONSOLE_TAIL_LINES) ?? "(no console output)";
  return new BoxliteError(error.code, `${error.message}\n--- console tail (${layout.consoleLog}) ---\n${tail}`, { cause: error });
}

/** Clean: the guest powers off (bounded by a grace period); otherwise SIGKILL at once. */
async function stopVm(vm: VmProcess, channel: GuestChannel | undefined, clean: boolean): Promise<void> {
  if (clean) channel?.shutdown();
  const timer = setTimeout(() => vm.kill("SIGKILL"), clean && channel ? SHUTDOWN_GRACE_MS : 0);
  await vm.exited;
  clearTimeout(timer);
  channel?.close();
}

/** The box's VM: the system disk (vda), its rootfs (vdb), the agent's channel, any other devices, and the helpers beside it. */
function boxVmSpec(config: Config, options: BootOptions, assets: GuestAssets, layout: BoxLayout): VmSpec {
  return {
    boxId: options.id,
    cpus: options.cpus,
    memoryMib: options.memoryMib,
    kernel: assets.kernel,
    devices: [
      systemDisk(assets.systemDisk),
      { kind: "disk", id: "rootfs", path: layout.disk, format: "qcow2", readOnly: false },
      { kind: "agent", socketPath: layout.agentSocket },
      ...(options.devices ?? []),
    ],
    helpers: options.helpers ?? [],
    consolePath: layout.consoleLog,
    kernelArgs: [`boxlite.hostname=${options.id.slice(-12)}`, ...config.kernelArgs.split(" ").filter(Boolean)],
  };
}

/** A VM the watchdog stopped because a helper died fails with that reason, not with "the channel closed". */
async function explained(error: unknown, vm: VmProcess): Promise<unknown> {
  const { reason } = await vm.exited;
  return reason ? new BoxliteError("vmm_failed", reason, { cause: error }) : error;
}

export async function bootBox(config: Config, options: BootOptions): Promise<BootedBox> {
  const assets = await prepareGuestAssets(config);
  const { backend } = await selectBackend(config, assets);
  const layout = boxLayout(config, options.id);
  let vm: VmProcess | undefined;
  try {
    createBoxDirs(layout, config);
    // Made at create time; a box from before that (or from the reference) gets it now.
    if (!existsSync(layout.disk)) createOverlay({ path: layout.disk, backingFile: options.image.basePath, backingFormat: "raw" });
    vm = await backend.start(boxVmSpec(config, options, assets, layout));
    writeVmmGroup(layout.dir, vm.members);
    const { channel } = await GuestChannel.connect(layout.agentSocket, { timeoutMs: config.bootTimeoutMs, vmExited: vm.exited });
    // Whatever runs in the box then fails with why (the watchdog waits for this before it stops the VMM).
    void vm.failed.then((reason) => channel.close(new BoxliteError("vmm_failed", reason)));
    const running = vm;
    return { layout, vm: running, channel, stop: () => stopVm(running, channel, true), kill: () => stopVm(running, channel, false) };
  } catch (error) {
    if (!vm) throw withConsoleTail(error, layout);
    await stopVm(vm, undefined, false);
    removeVmmPid(layout.dir);
    throw withConsoleTail(await explained(error, vm), layout);
  }
}
