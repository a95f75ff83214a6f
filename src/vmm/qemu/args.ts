/**
 * The QEMU command line for a box: the fastest recipe measured (docs/kernel.md, "The boot
 * recipe": microvm without ACPI, so QEMU passes virtio-mmio devices on the kernel command
 * line), then the VmSpec's devices, each turned into its arguments here and only here.
 */
import { BASE_KERNEL_ARGS, type VmSpec } from "../backend.ts";
import { dirname, join } from "node:path";
import { agentSocketOf, type VmDevice } from "../devices.ts";
import { driveId } from "./control.ts";
import { hostTscKhz } from "./host-tsc.ts";
import { SANDBOX_ARGS } from "./jail.ts";

/** QEMU option values separate fields with commas; a literal comma is written twice. */
function escapeOption(value: string): string {
  return value.replaceAll(",", ",,");
}

export interface QemuMachine {
  accelerator: string;
  kernelPath: string;
  consolePath: string;
  memoryMib: number;
  cpus: number;
  /** Where fsd serves the VM's shared directories; needed only when it has some. */
  sharesSocket?: string;
}

/** The one virtio-fs device of a VM's shared directories: each is the directory named by its own tag in it. */
export const SHARES_TAG = "shares";

/** The id of guest RAM when it must be shared with a vhost-user server. */
const SHARED_RAM = "ram";

/** The machine without devices: vCPUs, memory, kernel, console. */
function machineArgs(machine: QemuMachine, appendArgs: string[]): string[] {
  // Single vCPU only: with several, a TSC clock makes the kernel flip its sched_clock static
  // key while the other vCPU runs that code, and under multi-threaded TCG that cross-CPU
  // code patching crashed a guest (an oops in sched_clock_cpu, seen once in ~50 SMP boots).
  const tscKhz = machine.accelerator === "tcg" && machine.cpus === 1 ? hostTscKhz() : undefined;
  const clockArgs = tscKhz ? [`tsc_early_khz=${tscKhz}`] : [];
  // SMP under TCG runs its vCPUs in one host thread: the kernel patches its sched_clock code
  // across vCPUs (a static key flips when it marks the clock unstable), and under
  // multi-threaded TCG another vCPU still ran the old code and oopsed in sched_clock_cpu
  // (seen in ~1 of 50 SMP boots even with the jiffies clock; a CI run failed so).
  const accel = machine.accelerator === "tcg" && machine.cpus > 1 ? "tcg,thread=single" : machine.accelerator;
  return [
    "-accel",
    accel,
    ...(machine.accelerator === "tcg" ? [] : ["-cpu", "host"]),
    "-M",
    "microvm,acpi=off",
    "-m",
    String(machine.memoryMib),
    "-smp",
    String(machine.cpus),
    "-display",
    "none",
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
    "-kernel",
    machine.kernelPath,
    "-device",
    "virtio-serial-device",
    "-chardev",
    `file,path=${escapeOption(machine.consolePath)},append=on,id=console`,
    "-device",
    "virtconsole,chardev=console",
    "-append",
    [...BASE_KERNEL_ARGS, ...clockArgs, ...appendArgs].join(" "),
  ];
}

/** One device's arguments; `index` counts devices of its kind (net0, net1, …). */
function deviceArgs(device: VmDevice, index: number): string[] {
  switch (device.kind) {
    case "disk": {
      const drive = driveId(device.id);
      const access = device.readOnly ? "readonly=on" : "discard=unmap";
      return [
        "-drive",
        `file=${escapeOption(device.path)},if=none,id=${drive},format=${device.format},${access}`,
        "-device",
        `virtio-blk-device,drive=${drive}`,
      ];
    }
    case "net":
      // QEMU connects when it starts (the network process listens first) and frames
      // packets with a 32-bit big-endian length: the protocol libkrun's unixstream speaks.
      return [
        "-netdev",
        `stream,id=net${index},server=off,addr.type=unix,addr.path=${escapeOption(device.socketPath)}`,
        "-device",
        `virtio-net-device,netdev=net${index},mac=${device.mac}`,
      ];
    case "fs":
      // All of them on one device (sharesArgs).
      return [];
    case "agent":
      // The exec port right after the agent's: the guest finds it as the next port (guest/channel.c).
      return [
        "-chardev",
        `socket,path=${escapeOption(device.socketPath)},server=on,wait=off,id=agent`,
        "-device",
        "virtserialport,chardev=agent,name=agent0",
        ...(device.execSocketPath !== undefined
          ? ["-chardev", `socket,path=${escapeOption(device.execSocketPath)},server=on,wait=off,id=exec`, "-device", "virtserialport,chardev=exec,name=exec0"]
          : []),
      ];
  }
}

/**
 * The shared directories as one virtio-fs device served by fsd over vhost-user (QEMU has no
 * server of its own): one device whatever their number, since microvm has 8 virtio slots
 * and a box takes four. fsd maps guest RAM, so it must be shareable (memoryArgs).
 */
function sharesArgs(machine: QemuMachine, devices: readonly VmDevice[]): string[] {
  if (!devices.some((device) => device.kind === "fs")) return [];
  if (!machine.sharesSocket) throw new Error("a VM with shared directories needs the socket fsd serves them on");
  return ["-chardev", `socket,id=shares,path=${escapeOption(machine.sharesSocket)}`, "-device", `vhost-user-fs-device,chardev=shares,tag=${SHARES_TAG}`];
}

/**
 * Guest RAM in a file (templates, docs/templates.md): `shared` while a template is built, so
 * the guest's memory is the file's contents; private for a box restored from it, so the box
 * maps the template copy-on-write and boxes share the pages none of them wrote.
 */
export interface RamFile {
  path: string;
  shared: boolean;
}

/**
 * Guest RAM as a shared memfd when a vhost-user device needs to map it, in a file for
 * templates, plain memory named `ramId` for a resumed box whose saved RAM has that name
 * (QEMU matches RAM by name); else QEMU's default.
 */
function memoryArgs(machine: QemuMachine, devices: readonly VmDevice[], ramFile: RamFile | undefined, ramId?: string): string[] {
  const shares = devices.some((device) => device.kind === "fs");
  // fsd maps guest RAM by its fd: a private file mapping would show it the template, not the guest.
  if (ramFile && shares) throw new Error("a VM with shared directories cannot have its RAM in a template file");
  const id = ramId ?? SHARED_RAM;
  const backend = ramFile
    ? `memory-backend-file,id=${id},size=${machine.memoryMib}M,mem-path=${escapeOption(ramFile.path)},share=${ramFile.shared ? "on" : "off"}`
    : shares
      ? `memory-backend-memfd,id=${id},size=${machine.memoryMib}M,share=on`
      : ramId !== undefined
        ? `memory-backend-ram,id=${id},size=${machine.memoryMib}M`
        : undefined;
  return backend ? ["-object", backend, "-machine", `memory-backend=${id}`] : [];
}

/** The machine, then each device in order. Also what the accelerator probe and the benchmark's bare boot run. */
export function qemuArgs(machine: QemuMachine, devices: readonly VmDevice[], appendArgs: string[], ramFile?: RamFile, ramId?: string): string[] {
  const seen = new Map<VmDevice["kind"], number>();
  const perDevice = devices.flatMap((device) => {
    const index = seen.get(device.kind) ?? 0;
    seen.set(device.kind, index + 1);
    return deviceArgs(device, index);
  });
  return [...machineArgs(machine, appendArgs), ...memoryArgs(machine, devices, ramFile, ramId), ...perDevice, ...sharesArgs(machine, devices)];
}

/** QEMU's QMP socket for a box (snapshots pause the VM and switch its disk there): beside the agent's. */
export function qmpSocketOf(spec: VmSpec): string {
  return join(dirname(agentSocketOf(spec.devices)), "qmp.sock");
}

/** fsd's socket for a box: beside the agent's. */
export function sharesSocketOf(spec: VmSpec): string {
  return join(dirname(agentSocketOf(spec.devices)), "fs.sock");
}

/** How a box's QEMU starts when it is not a cold boot: its RAM in a file, and/or waiting for a saved state. */
export interface StartFrom {
  ramFile?: RamFile;
  /** The RAM backend's id a resumed box's saved state needs (suspend.ts); absent: QEMU's default. */
  ramId?: string;
  /** `-incoming defer`: QEMU waits, stopped, for `migrate-incoming` over QMP (migration.ts loadVm). */
  incoming: boolean;
}

export function boxArgs(spec: VmSpec, accelerator: string, from?: StartFrom): string[] {
  const machine = {
    accelerator,
    kernelPath: spec.kernel.elfPath,
    consolePath: spec.consolePath,
    memoryMib: spec.memoryMib,
    cpus: spec.cpus,
    ...(spec.devices.some((device) => device.kind === "fs") ? { sharesSocket: sharesSocketOf(spec) } : {}),
  };
  // The box's settings reach the guest in CONFIG, not on the kernel command line.
  return [
    ...qemuArgs(machine, spec.devices, spec.kernelArgs, from?.ramFile, from?.ramId),
    "-qmp",
    `unix:${escapeOption(qmpSocketOf(spec))},server=on,wait=off`,
    ...(from?.incoming ? ["-incoming", "defer"] : []),
    ...(spec.jail ? SANDBOX_ARGS : []),
  ];
}
