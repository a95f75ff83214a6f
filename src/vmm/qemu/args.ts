/**
 * The QEMU command line for a box: the fastest recipe measured (docs/kernel.md, "The boot
 * recipe"): microvm without ACPI, so QEMU passes virtio-mmio devices on the kernel command line.
 */
import { BASE_KERNEL_ARGS, type VmSpec } from "../backend.ts";
import { hostTscKhz } from "./host-tsc.ts";

/** QEMU option values separate fields with commas; a literal comma is written twice. */
function escapeOption(value: string): string {
  return value.replaceAll(",", ",,");
}

export interface QemuMachine {
  accelerator: string;
  kernelPath: string;
  systemDisk: string;
  consolePath: string;
  memoryMib: number;
  cpus: number;
}

/** The machine without box-specific devices: also what the accelerator probe and the benchmark boot. */
export function machineArgs(machine: QemuMachine, appendArgs: string[]): string[] {
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
    "-drive",
    `file=${escapeOption(machine.systemDisk)},if=none,id=system,format=raw,readonly=on`,
    "-device",
    "virtio-blk-device,drive=system",
    "-append",
    [...BASE_KERNEL_ARGS, ...clockArgs, ...appendArgs].join(" "),
  ];
}

export function boxArgs(spec: VmSpec, accelerator: string): string[] {
  const machine = machineArgs(
    {
      accelerator,
      kernelPath: spec.kernel.elfPath,
      systemDisk: spec.systemDisk,
      consolePath: spec.consolePath,
      memoryMib: spec.memoryMib,
      cpus: spec.cpus,
    },
    spec.kernelArgs,
  );
  return [
    ...machine,
    "-chardev",
    `socket,path=${escapeOption(spec.agentSocketPath)},server=on,wait=off,id=agent`,
    "-device",
    "virtserialport,chardev=agent,name=agent0",
    // After the system disk (vda): the guest sees the rootfs as vdb, GUEST_ROOTFS_DEVICE.
    "-drive",
    `file=${escapeOption(spec.rootfsDisk)},if=none,id=rootfs,format=qcow2,discard=unmap`,
    "-device",
    "virtio-blk-device,drive=rootfs",
  ];
}
