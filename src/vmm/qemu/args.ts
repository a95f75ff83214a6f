/**
 * The QEMU command line for a box: the fastest recipe measured (docs/kernel.md, "The boot
 * recipe": microvm without ACPI, so QEMU passes virtio-mmio devices on the kernel command
 * line), then the VmSpec's devices, each turned into its arguments here and only here.
 */
import { BASE_KERNEL_ARGS, type VmSpec } from "../backend.ts";
import type { VmDevice } from "../devices.ts";
import { hostTscKhz } from "./host-tsc.ts";

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
}

/** The id of guest RAM when it must be shared with a vhost-user server. */
const SHARED_RAM = "ram";

/** The machine without devices: vCPUs, memory, kernel, console. */
function machineArgs(machine: QemuMachine, appendArgs: string[]): string[] {
  // Single vCPU only: with several, a TSC clock makes the kernel flip its sched_clock static
  // key while the other vCPU runs that code, and under multi-threaded TCG that cross-CPU
  // code patching crashed a guest (an oops in sched_clock_cpu, seen once in ~50 SMP boots).
  const tscKhz = machine.accelerator === "tcg" && machine.cpus === 1 ? hostTscKhz() : undefined;
  const clockArgs = tscKhz ? [`tsc_early_khz=${tscKhz}`] : [];
  return [
    "-accel",
    machine.accelerator,
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
      const drive = `disk-${device.id}`;
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
      // virtio-fs through a vhost-user server (QEMU has no built-in one): the server maps
      // guest RAM, so it must be shareable (memoryArgs). Read-only is the server's to enforce.
      return [
        "-chardev",
        `socket,id=fs${index},path=${escapeOption(device.socketPath)}`,
        "-device",
        `vhost-user-fs-device,chardev=fs${index},tag=${device.tag}`,
      ];
    case "agent":
      return ["-chardev", `socket,path=${escapeOption(device.socketPath)},server=on,wait=off,id=agent`, "-device", "virtserialport,chardev=agent,name=agent0"];
  }
}

/** Guest RAM as a shared memfd when a vhost-user device needs to map it; else QEMU's default. */
function memoryArgs(machine: QemuMachine, devices: readonly VmDevice[]): string[] {
  if (!devices.some((device) => device.kind === "fs")) return [];
  return ["-object", `memory-backend-memfd,id=${SHARED_RAM},size=${machine.memoryMib}M,share=on`, "-machine", `memory-backend=${SHARED_RAM}`];
}

/** The machine, then each device in order. Also what the accelerator probe and the benchmark's bare boot run. */
export function qemuArgs(machine: QemuMachine, devices: readonly VmDevice[], appendArgs: string[]): string[] {
  const seen = new Map<VmDevice["kind"], number>();
  const perDevice = devices.flatMap((device) => {
    const index = seen.get(device.kind) ?? 0;
    seen.set(device.kind, index + 1);
    return deviceArgs(device, index);
  });
  return [...machineArgs(machine, appendArgs), ...memoryArgs(machine, devices), ...perDevice];
}

export function boxArgs(spec: VmSpec, accelerator: string): string[] {
  const machine = { accelerator, kernelPath: spec.kernel.elfPath, consolePath: spec.consolePath, memoryMib: spec.memoryMib, cpus: spec.cpus };
  // The box's settings reach the guest in CONFIG, not on the kernel command line.
  return qemuArgs(machine, spec.devices, spec.kernelArgs);
}
