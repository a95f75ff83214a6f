/**
 * The boot benchmark's floor: a VM with what a box's VM has — the same kernel, memory,
 * vCPUs and devices (the system disk, the box's rootfs overlay, the agent's port and its exec port, the NIC)
 * — whose init is floor-init.c, built like the guest agent (static, musl) into a system
 * disk of its own, which powers the VM off at once. Its QEMU from spawn to exit is the
 * physical floor of a box's cold boot: whatever a box takes beyond it, boxlite adds (host
 * work before QEMU, the helpers, the agent's start, CONFIG, the command, the teardown).
 * The NIC's socket is listened on here, as netd would, so QEMU's arguments are a box's.
 */
import { chmodSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Config } from "../../src/config/config.ts";
import { buildExt4FromDir } from "../../src/disk/ext4.ts";
import { createOverlay } from "../../src/disk/qcow2.ts";
import { prepareDefaultImage } from "../../src/image/default-image.ts";
import { DEFAULT_CPUS, DEFAULT_MEMORY_MIB } from "../../src/model/box-options.ts";
import { BOX_NET } from "../../src/runtime/box-network.ts";
import { systemDisk } from "../../src/vmm/devices.ts";
import { MOUNT_POINTS } from "../../src/vmm/system-disk.ts";
import { prepareKernel } from "../../src/vmm/kernel/kernel.ts";
import { qemuArgs } from "../../src/vmm/qemu/args.ts";
import { findQemu } from "../../src/vmm/qemu/binary.ts";

/** guest/Makefile's compiler and flags for the agent. */
const CC = ["musl-gcc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-D_GNU_SOURCE", "-Os", "-static", "-s"];

export interface Floor {
  /** The floor VM's QEMU command line: run it, and it exits once the guest powered off. */
  argv: string[];
  close(): void;
}

/** Builds the floor's init and disks in `dir` (a fresh temporary directory). */
export async function prepareFloor(config: Config, accelerator: string, dir: string): Promise<Floor> {
  const root = join(dir, "floor-root");
  // The agent's system disk's layout: the kernel mounts devtmpfs on /dev and opens the console for init as it does for the agent.
  for (const point of MOUNT_POINTS) mkdirSync(join(root, point), { recursive: true });
  const compile = Bun.spawnSync([...CC, "-o", join(root, "init"), join(import.meta.dir, "floor-init.c")], { stderr: "pipe" });
  if (compile.exitCode !== 0) throw new Error(`building floor-init.c failed: ${compile.stderr.toString()}`);
  chmodSync(root, 0o755);
  const system = join(dir, "floor-system.ext4");
  buildExt4FromDir(root, system, { headroom: 0, journal: false });
  const rootfs = join(dir, "floor-disk.qcow2");
  createOverlay({ path: rootfs, backingFile: (await prepareDefaultImage(config)).basePath, backingFormat: "raw" });
  const netSocket = join(dir, "floor-net.sock");
  const net = Bun.listen({ unix: netSocket, socket: { data: () => {} } });
  const kernel = await prepareKernel(config);
  const machine = { accelerator, kernelPath: kernel.elfPath, consolePath: join(dir, "floor-console.log"), memoryMib: DEFAULT_MEMORY_MIB, cpus: DEFAULT_CPUS };
  const devices = [
    systemDisk(system),
    { kind: "disk" as const, id: "rootfs", path: rootfs, format: "qcow2" as const, readOnly: false },
    { kind: "agent" as const, socketPath: join(dir, "floor-agent.sock"), execSocketPath: join(dir, "floor-exec.sock") },
    { kind: "net" as const, socketPath: netSocket, mac: BOX_NET.mac },
  ];
  return { argv: [findQemu(config), ...qemuArgs(machine, devices, [])], close: () => net.stop(true) };
}
