/** VmSpecs for backend tests: a box as the runtime builds it, and one with every kind of device. */
import { join } from "node:path";
import type { VmSpec } from "../../src/vmm/backend.ts";
import { systemDisk } from "../../src/vmm/devices.ts";

/** A typical box's VmSpec under `dir` (nothing needs to exist until a VM really starts). */
export function typicalSpec(dir: string): VmSpec {
  return {
    boxId: "b1",
    cpus: 2,
    memoryMib: 512,
    kernel: {
      elfPath: join(dir, "runtime", "kernel.elf"),
      libkrunfwPath: "/usr/lib/libkrunfw.so.5",
      libkrunfwOrigin: "BOXLITE_LIBKRUNFW",
      libkrunfwVersion: 5,
      linuxVersion: "6.12.91",
    },
    devices: [
      systemDisk(join(dir, "runtime", "system.ext4")),
      { kind: "disk", id: "rootfs", path: join(dir, "boxes", "b1", "disks", "disk.qcow2"), format: "qcow2", readOnly: false },
      { kind: "agent", socketPath: join(dir, "sock", "b1.agent.sock"), execSocketPath: join(dir, "sock", "b1.exec.sock") },
    ],
    helpers: [],
    consolePath: join(dir, "boxes", "b1", "logs", "console.log"),
    // Extra arguments reach the kernel command line as given (the box's own settings go in CONFIG).
    kernelArgs: ["loglevel=4"],
  };
}

/** `typicalSpec(dir)` with a device of every other kind: two NICs and a read-only shared directory. */
export function everyDeviceSpec(dir: string): VmSpec {
  const spec = typicalSpec(dir);
  return {
    ...spec,
    devices: [
      ...spec.devices,
      { kind: "net", socketPath: join(dir, "sock", "b1.net.sock"), mac: "5a:94:ef:e4:0c:ee" },
      { kind: "fs", tag: "data", hostPath: join(dir, "shared"), readOnly: true },
      { kind: "net", socketPath: join(dir, "sock", "b1.net2.sock"), mac: "02:00:00:00:00:01" },
    ],
  };
}
