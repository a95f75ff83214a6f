/**
 * The VMM backend interface. The runtime builds a VmSpec — the machine, its devices and
 * the helper processes beside it — and asks a backend to start it; how the VM is started
 * (a QEMU process, libkrun in a child process) is the backend's only job. Every backend
 * boots the same guest: the libkrunfw kernel, the system disk with the agent as /init,
 * and the box's rootfs disk.
 */
import type { WakeDisk } from "../guest-protocol/wake.ts";
import { checkDevices, type VmDevice } from "./devices.ts";
import { checkHelpers, type HelperCommand } from "./helpers.ts";
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
  /**
   * In order. Disks become vda, vdb, …: the first is the system disk (root=/dev/vda), the
   * second the box's rootfs (GUEST_ROOTFS_DEVICE, /dev/vdb, which CONFIG names). NICs become eth0, eth1, ….
   */
  devices: VmDevice[];
  /** Started before the VMM, each ready before the next, and stopped with it. */
  helpers: HelperCommand[];
  /** Kernel and guest agent console output goes here. */
  consolePath: string;
  /** Extra kernel command-line arguments, appended after the backend's own (the box's settings go in CONFIG, not here). */
  kernelArgs: string[];
  /**
   * The jail around the VM's processes (docs/security.md, "The jail around each VMM");
   * absent: none (`--security disable`). `readOnly` names what the VMM reads that no device
   * names: the disks' backing chains.
   */
  jail?: { readOnly: string[] };
}

/** Refuses a spec no backend can start, saying what is wrong: each backend's start calls it first. */
export function checkVmSpec(spec: VmSpec): void {
  checkDevices(spec.devices);
  checkHelpers(spec.helpers);
}

/** A process the watchdog started for a box: a helper, or the VMM (named "vmm"). */
export interface VmMember {
  name: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat, read by the watchdog before the process could be reaped. */
  startTime: string;
}

export interface VmExit {
  /** The VMM's exit status; 128+N when it was killed by signal N. */
  code: number;
  /** Why the VM was stopped when it was not its own doing: a helper ended. */
  reason?: string;
}

/**
 * A VM started from saved memory (a template, or a suspended box) instead of booting: it
 * waits, stopped, until the host has connected to its agent channel.
 */
export interface RestoredVm {
  /** The box's disks where the guest had a template's stand-ins (WAKE `disks`); none for a suspended box's own. */
  disks: WakeDisk[];
  /** Runs the VM, once the host's channel is connected (docs/templates.md, "The channel"). */
  run(): Promise<void>;
  /** The guest did not come up: what it was restored from is not used again (a template is discarded). */
  failed(why: string): void;
}

export interface VmProcess {
  /** The watchdog's pid: the leader of the box's process group. */
  pid: number;
  /** Every process the watchdog started, in order: the helpers, then the VMM. */
  members: readonly VmMember[];
  /** Settles once every process of the group is gone. */
  exited: Promise<VmExit>;
  /**
   * Settles with the reason when a helper ended and the watchdog is stopping the VM
   * because of it — before the VMM is stopped, so the owner can say why before the guest
   * channel drops. Never settles otherwise.
   */
  failed: Promise<string>;
  /** Sends a signal to the VMM (SIGKILL ends the whole group at once; the guest gets no say). */
  kill(signal?: NodeJS.Signals): void;
  /** Set when the VM was restored from saved memory rather than booted. */
  restored?: RestoredVm;
}

export interface BackendInfo {
  name: BackendName;
  /** The accelerator in use (kvm, hvf, tcg) and why it was chosen. */
  accelerator: string;
  reason: string;
  binary?: string;
  /** Whether boxes start from memory templates, and why (or why not) (docs/templates.md). */
  templates: { enabled: boolean; reason: string; dir?: string };
  /** Whether boxes can be suspended, and what limits it (docs/suspend.md). */
  suspend: { enabled: boolean; reason: string };
}

/**
 * What a VM's saved state needs of the VM that loads it — the VMM build, accelerator, kernel,
 * system disk, machine and devices, and how its RAM is named — compared whole (docs/suspend.md).
 */
export type VmIdentity = Record<string, unknown>;

/** A suspended box's saved state, to start its VM from instead of booting (docs/suspend.md). */
export interface ResumeFrom {
  /** The VMM's saved state. */
  statePath: string;
  /**
   * Settles once the state's checksum is checked, which runs while the VMM loads it: the VM
   * runs only once it holds, and a state that fails it is never run.
   */
  verified: Promise<void>;
  /** What VmControl.saveState returned when it was saved: a VM of another identity is refused. */
  identity: VmIdentity;
  /**
   * Called once the state is loaded and just before the VM runs: from then on the guest
   * changes the box's disk, and the state must never be loaded again (the runtime discards it).
   */
  consumed(): void;
}

export interface StartOptions {
  /** Boot the kernel even when a template could be restored (after a restore failed). */
  cold?: boolean;
  /** Start from a suspended box's saved state (never falls back to a boot: the caller decides). */
  resume?: ResumeFrom;
}

/** Where the guest finds a shared directory: a virtio-fs tag, and the share's directory in it when one device serves several. */
export interface ShareSource {
  tag: string;
  subdir?: string;
}

/**
 * Holding a running VM still while its disk is copied or forked (docs/snapshots.md): its
 * vCPUs stopped, and — where the VMM can — its disk switched to a new overlay in place.
 */
export interface VmControl {
  /** Stops the vCPUs; QEMU also completes and flushes every disk write first. */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /**
   * While paused: writes of disk `diskId` go to `overlayPath` from now on, a new qcow2 whose
   * backing file is the disk's current file (which QEMU then only reads). Refused with
   * `unsupported` by a VMM that cannot (libkrun).
   */
  switchDisk(diskId: string, overlayPath: string): Promise<void>;
  /** Why this VM's state cannot be saved (a suspend is refused with `unsupported` and this), or undefined. */
  saveRefusal(): string | undefined;
  /**
   * Stops the VM and writes its whole state, memory included, to `path` (docs/suspend.md);
   * the VM stays stopped. Returns what a VM resumed from it must match.
   */
  saveState(path: string): Promise<VmIdentity>;
  /** Lets go of what the control holds (a QMP connection). */
  close(): void;
}

export interface VmmBackend {
  readonly name: BackendName;
  /** The pause and disk controls of a VM this backend started from `spec`. */
  control(vm: VmProcess, spec: VmSpec): VmControl;
  /** Resolves which accelerator to use (may boot a probe VM; the verdict is cached). */
  describe(): Promise<BackendInfo>;
  start(spec: VmSpec, options?: StartOptions): Promise<VmProcess>;
  /** Where this backend puts the shared directory the spec tagged `tag` (SharedDirDevice). */
  shareSource(tag: string): ShareSource;
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
  // Every synchronize_rcu() in the guest expedited: a normal grace period waits on the tick
  // (tens of ms at this kernel's HZ), and a box's start waits on several — mounting its
  // cgroup hierarchy took 11–19 ms, 3–8 expedited. With a vCPU or two there are few CPUs to
  // interrupt, which is what expediting costs.
  "rcupdate.rcu_expedited=1",
];

/**
 * Where the guest finds the box's rootfs disk: every backend attaches the system disk as
 * the first virtio-blk device (vda) and the rootfs as the second. The host tells the agent
 * in CONFIG (docs/guest-protocol.md, "Configuration").
 */
export const GUEST_ROOTFS_DEVICE = "/dev/vdb";
