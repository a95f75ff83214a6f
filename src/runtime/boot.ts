/**
 * Boots a box: its directories, its disk overlay, its VM, and the guest channel once the
 * agent answers and has taken the box's configuration. A failure at any step kills the VM
 * and reports the console tail.
 */
import { existsSync } from "node:fs";
import type { Config } from "../config/config.ts";
import { readBackingChain } from "../disk/chain.ts";
import { removeForkLeftovers } from "../disk/fork.ts";
import { createOverlay } from "../disk/qcow2.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import { isConfigRefusal } from "../guest-protocol/client-errors.ts";
import type { GuestConfig, GuestMount } from "../guest-protocol/messages.ts";
import type { ImageBase } from "../image/image.ts";
import type { CapabilityPolicy } from "../model/capabilities.ts";
import { BoxliteError } from "../util/errors.ts";
import { fileTail } from "../util/fs.ts";
import { GUEST_ROOTFS_DEVICE, type GuestAssets, type ResumeFrom, type ShareSource, type VmControl, type VmProcess, type VmSpec } from "../vmm/backend.ts";
import { systemDisk, type VmDevice } from "../vmm/devices.ts";
import type { HelperCommand } from "../vmm/helpers.ts";
import type { SecurityMode } from "../vmm/jail/host.ts";
import { selectBackend } from "../vmm/select.ts";
import { type BoxLayout, boxLayout, createBoxDirs } from "./box-layout.ts";
import type { BoxNetwork } from "./box-network.ts";
import { prepareGuestAssets } from "./guest-assets.ts";
import { boxHostname } from "./options.ts";
import { removeVmmPid, writeVmmGroup } from "./vmm-pid.ts";

/** After SHUTDOWN the guest powers off in milliseconds; past this the VMM is killed. */
export const SHUTDOWN_GRACE_MS = 10_000;
const CONSOLE_TAIL_LINES = 15;

export interface BootOptions {
  id: string;
  image: ImageBase;
  cpus: number;
  memoryMib: number;
  /** The box's NIC, its network process and the guest's settings; absent: no network card. */
  network?: BoxNetwork;
  /** Devices after the box's own disks, agent channel and NIC: its volumes' shares. */
  devices?: VmDevice[];
  /** What the guest mounts from those shares, in order (docs/volumes.md). */
  mounts?: GuestMount[];
  /** The box's capability policy (docs/security.md); absent: docker's default set. */
  capabilities?: CapabilityPolicy;
  /** Processes to run beside the VMM, ready before it starts: what serves those devices. */
  helpers?: HelperCommand[];
  /** Start from the box's saved state (a suspended box, docs/suspend.md) instead of booting; no cold boot when that fails. */
  resume?: ResumeFrom;
  /** The guest's hostname when not the box's own: a resumed guest keeps the one it was saved with (an imported box has another id). */
  hostname?: string;
  /** The jail around the VMM and its helpers (docs/security.md); boxes pass their own, absent means none (bare VMs of tests and benchmarks). */
  security?: SecurityMode;
}

/** A box's VM, booting: its guest agent comes up with nothing of the box until it is sent a GuestConfig. */
export interface StartedVm {
  layout: BoxLayout;
  /** The backend that runs the VM ("qemu" or "krun"). */
  vmm: string;
  vm: VmProcess;
  /** Pausing the VM and switching its disk (snapshots of a running box). */
  control: VmControl;
  /** Where the guest finds each shared directory (the backend decides). */
  shareSource(tag: string): ShareSource;
}

export interface BootedBox extends StartedVm {
  channel: GuestChannel;
  /** What the guest was configured with (a suspend saves it with the state). */
  config: GuestConfig;
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
  const grace = clean && channel !== undefined;
  // Without a grace period, killed at once rather than on a zero timer's turn: `run --rm` waits on it.
  if (!grace) vm.kill("SIGKILL");
  const timer = grace ? setTimeout(() => vm.kill("SIGKILL"), SHUTDOWN_GRACE_MS) : undefined;
  await vm.exited;
  clearTimeout(timer);
  channel?.close();
}

/** What the guest is told about its box once it is up (docs/guest-protocol.md, "Configuration"). */
export function guestConfig(
  id: string,
  network?: BoxNetwork,
  mounts: GuestMount[] = [],
  hostname = boxHostname(id),
  capabilities?: CapabilityPolicy,
): GuestConfig {
  return {
    hostname,
    rootfs: { device: GUEST_ROOTFS_DEVICE },
    ...(network ? { network: network.guest } : {}),
    ...(mounts.length > 0 ? { mounts } : {}),
    ...(capabilities ? { capabilities: { add: capabilities.add, drop: capabilities.drop } } : {}),
  };
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
      { kind: "agent", socketPath: layout.agentSocket, execSocketPath: layout.execSocket },
      ...(options.network?.devices ?? []),
      ...(options.devices ?? []),
    ],
    helpers: [...(options.network?.helpers ?? []), ...(options.helpers ?? [])],
    consolePath: layout.consoleLog,
    // The box's own settings go in CONFIG: the command line carries only what the user adds.
    kernelArgs: config.kernelArgs.split(" ").filter(Boolean),
    // QEMU opens the disk's backing files itself, by the names in the chain: they are in its view, read-only.
    ...(options.security === "enable"
      ? {
          jail: {
            readOnly: readBackingChain(layout.disk)
              .slice(1)
              .map((image) => image.path),
          },
        }
      : {}),
  };
}

/** A VM the watchdog stopped because a helper died fails with that reason, not with "the channel closed". */
async function explained(error: unknown, vm: VmProcess): Promise<unknown> {
  const { reason } = await vm.exited;
  return reason ? new BoxliteError("vmm_failed", reason, { cause: error }) : error;
}

/** Starts the box's VM without waiting for its guest (bootBox does, and configures it); `cold` boots the kernel even when a template exists. */
export async function startBoxVm(config: Config, options: BootOptions, cold = false): Promise<StartedVm> {
  const assets = await prepareGuestAssets(config);
  const { backend } = await selectBackend(config, assets);
  const layout = boxLayout(config, options.id);
  try {
    createBoxDirs(layout, config);
    // Made at create time; a box from before that (or from the reference) gets it now.
    if (!existsSync(layout.disk)) createOverlay({ path: layout.disk, backingFile: options.image.basePath, backingFormat: "raw" });
    // Names a running VMM's forks gave its disk (disk/fork.ts): no VMM uses them now.
    removeForkLeftovers(layout.disk);
    const spec = boxVmSpec(config, options, assets, layout);
    const vm = await backend.start(spec, { cold, ...(options.resume ? { resume: options.resume } : {}) });
    writeVmmGroup(layout.dir, vm.members);
    const control = backend.control(vm, spec);
    void vm.exited.then(() => control.close());
    return { layout, vmm: backend.name, vm, control, shareSource: (tag) => backend.shareSource(tag) };
  } catch (error) {
    throw withConsoleTail(error, layout);
  }
}

/** How long a guest restored from a template may take to answer before the box boots cold instead. */
const RESTORED_TIMEOUT_MS = 10_000;

export async function bootBox(config: Config, options: BootOptions, cold = false): Promise<BootedBox> {
  const { layout, vmm, vm, control, shareSource } = await startBoxVm(config, options, cold);
  // Each volume's tag as the guest will find it on this backend.
  const mounts = (options.mounts ?? []).map((mount) => ({ ...mount, ...shareSource(mount.tag) }));
  const restored = vm.restored;
  const guest = guestConfig(options.id, options.network, mounts, options.hostname, options.capabilities);
  try {
    const { channel } = await GuestChannel.connect(layout.agentSocket, {
      timeoutMs: restored ? Math.min(RESTORED_TIMEOUT_MS, config.bootTimeoutMs) : config.bootTimeoutMs,
      vmExited: vm.exited,
      config: guest,
      ...(restored ? { wake: { disks: restored.disks }, opened: () => restored.run() } : {}),
    });
    // Whatever runs in the box then fails with why (the watchdog waits for this before it stops the VMM).
    void vm.failed.then((reason) => channel.close(new BoxliteError("vmm_failed", reason)));
    return { layout, vmm, vm, control, shareSource, channel, config: guest, stop: () => stopVm(vm, channel, true), kill: () => stopVm(vm, channel, false) };
  } catch (error) {
    await stopVm(vm, undefined, false);
    removeVmmPid(layout.dir);
    const why = withConsoleTail(await explained(error, vm), layout);
    // A template that does not come up is not used again, and this box boots the kernel instead
    // (a suspended box's state is the caller's to discard: it fails, and boots at its next start).
    if (restored && !options.resume && !isConfigRefusal(error)) {
      restored.failed(String(why));
      return bootBox(config, options, true);
    }
    throw why;
  }
}
