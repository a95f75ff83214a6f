/**
 * The VMM backend interface. The runtime builds a VmSpec and asks a backend to start
 * it; how the VM is started (a QEMU process, libkrun in a child process) is the
 * backend's only job. Every backend boots the same guest: the libkrunfw kernel, the
 * system disk with the agent as /init, and the box's rootfs disk.
 */
import type { GuestKernel } from "./kernel/kernel.ts";

export type BackendName = "qemu" | "krun";

/** What every backend boots, prepared once per process (src/runtime/guest-assets.ts). */
export interface GuestAssets {
  kernel: GuestKernel;
  /** Read-only ext4 image whose /init is the guest agent. */
  systemDisk: string;
}

export interface VmSpec {
  boxId: string;
  cpus: number;
  memoryMib: number;
  kernel: GuestKernel;
  /** Read-only ext4 image whose /init is the guest agent. */
  systemDisk: string;
  /** The box's container rootfs: a qcow2 overlay over the image's ext4 base. */
  rootfsDisk: string;
  /** Kernel and guest agent console output goes here. */
  consolePath: string;
  /** Unix socket the host dials to reach the agent's channel. */
  agentSocketPath: string;
  /** Extra kernel command-line arguments, appended after the backend's own (the box's settings go in CONFIG, not here). */
  kernelArgs: string[];
}

export interface VmExit {
  /** The VMM's exit status; 128+N when it was killed by signal N. */
  code: number;
}

export interface VmProcess {
  pid: number;
  exited: Promise<VmExit>;
  /** Sends a signal to the VMM (SIGKILL ends it at once; the guest gets no say). */
  kill(signal?: NodeJS.Signals): void;
}

export interface BackendInfo {
  name: BackendName;
  /** The accelerator in use (kvm, hvf, tcg) and why it was chosen. */
  accelerator: string;
  reason: string;
  binary?: string;
}

export interface VmmBackend {
  readonly name: BackendName;
  /** Resolves which accelerator to use (may boot a probe VM; the verdict is cached). */
  describe(): Promise<BackendInfo>;
  start(spec: VmSpec): Promise<VmProcess>;
}

/** Flags every guest kernel boot gets: fast, quiet, and a clean exit on reboot. */
export const BASE_KERNEL_ARGS = [
  "console=hvc0",
  "root=/dev/vda",
  "ro",
  "rootfstype=ext4",
  "init=/init",
  "panic=-1",
  "reboot=t",
  "quiet",
  "tsc=reliable",
  "no_timer_check",
  "cryptomgr.notests",
  "random.trust_cpu=on",
  "mitigations=off",
];

/**
 * Where the guest finds the box's rootfs disk: every backend attaches the system disk as
 * the first virtio-blk device (vda) and the rootfs as the second. The host tells the agent
 * in CONFIG (docs/guest-protocol.md, "Configuration").
 */
export const GUEST_ROOTFS_DEVICE = "/dev/vdb";
