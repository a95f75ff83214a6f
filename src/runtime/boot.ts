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
import type { VmProcess } from "../vmm/backend.ts";
import { selectBackend } from "../vmm/select.ts";
import { type BoxLayout, boxLayout, createBoxDirs } from "./box-layout.ts";
import { prepareGuestAssets } from "./guest-assets.ts";

/** After SHUTDOWN the guest powers off in milliseconds; past this the VMM is killed. */
const SHUTDOWN_GRACE_MS = 10_000;
const CONSOLE_TAIL_LINES = 15;

export interface BootOptions {
  id: string;
  image: ImageBase;
  cpus: number;
  memoryMib: number;
}

export interface BootedBox {
  layout: BoxLayout;
  /** The backend that runs the VM ("qemu" or "krun"). */
  vmm: string;
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

export async function bootBox(config: Config, options: BootOptions): Promise<BootedBox> {
  const assets = await prepareGuestAssets(config);
  const { backend } = await selectBackend(config, assets);
  const layout = boxLayout(config, options.id);
  let vm: VmProcess | undefined;
  try {
    createBoxDirs(layout, config);
    // Made at create time; a box from before that (or from the reference) gets it now.
    if (!existsSync(layout.disk)) createOverlay({ path: layout.disk, backingFile: options.image.basePath, backingFormat: "raw" });
    vm = await backend.start({
      boxId: options.id,
      cpus: options.cpus,
      memoryMib: options.memoryMib,
      kernel: assets.kernel,
      systemDisk: assets.systemDisk,
      rootfsDisk: layout.disk,
      consolePath: layout.consoleLog,
      agentSocketPath: layout.agentSocket,
      kernelArgs: [`boxlite.hostname=${options.id.slice(-12)}`, ...config.kernelArgs.split(" ").filter(Boolean)],
    });
    const { channel } = await GuestChannel.connect(layout.agentSocket, { timeoutMs: config.bootTimeoutMs, vmExited: vm.exited });
    const running = vm;
    return { layout, vmm: backend.name, vm: running, channel, stop: () => stopVm(running, channel, true), kill: () => stopVm(running, channel, false) };
  } catch (error) {
    if (vm) await stopVm(vm, undefined, false);
    throw withConsoleTail(error, layout);
  }
}
