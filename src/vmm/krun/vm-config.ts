/**
 * What the krun backend hands its `boxlite __vm` child on stdin (never on argv, so nothing
 * in it shows in `ps`): the whole libkrun configuration of one VM, built from a VmSpec
 * here — device by device, in krunDevice — and replayed call by call there (vm.ts). The child validates it, so a malformed
 * document is refused with the field that is wrong, never half-applied.
 */
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { BoxliteError } from "../../util/errors.ts";
import { BASE_KERNEL_ARGS, type VmSpec } from "../backend.ts";
import { MAC_ADDRESS, systemDisk, type VmDevice } from "../devices.ts";
import type { GuestKernel } from "../kernel/kernel.ts";
import { COMPAT_NET_FEATURES, KRUN_DISK_FORMAT_QCOW2, KRUN_DISK_FORMAT_RAW, KRUN_KERNEL_FORMAT_ELF, KRUN_KERNEL_FORMAT_RAW } from "./ffi.ts";

/** The guest port the agent listens on; libkrun bridges it to the box's agent socket. */
export const AGENT_VSOCK_PORT = 2695;

/**
 * RLIMIT_NOFILE (7) raised for the guest, as the reference does (its NPROC cap is left
 * out: a qemu box has none, and both backends boot the same guest).
 */
export const GUEST_RLIMITS = ["7=1048576:1048576"];

const DiskFormat = Type.Union([Type.Literal(KRUN_DISK_FORMAT_RAW), Type.Literal(KRUN_DISK_FORMAT_QCOW2)]);
const Path = Type.String({ minLength: 1 });
const Uint32 = Type.Integer({ minimum: 0, maximum: 0xffff_ffff });
const strict = { additionalProperties: false };

/** Each device is one libkrun call (vm.ts), made in this order. */
const KrunDevice = Type.Union([
  /** krun_add_disk2: disks are the guest's vda, vdb, … in order. */
  Type.Object({ kind: Type.Literal("disk"), blockId: Type.String({ minLength: 1 }), path: Path, format: DiskFormat, readOnly: Type.Boolean() }, strict),
  /** krun_add_net_unixstream: NICs are eth0, eth1, … in order. */
  Type.Object({ kind: Type.Literal("net"), socketPath: Path, mac: Type.String({ pattern: MAC_ADDRESS.source }), features: Uint32, flags: Uint32 }, strict),
  /** krun_add_virtiofs3, without a DAX window. */
  Type.Object({ kind: Type.Literal("fs"), tag: Type.String({ minLength: 1 }), path: Path, readOnly: Type.Boolean() }, strict),
  /** krun_add_vsock_port2 with listen=true: the guest agent listens on the port. */
  Type.Object({ kind: Type.Literal("agent"), port: Type.Integer({ minimum: 1, maximum: 0xffff_fffe }), socketPath: Path }, strict),
]);
export type KrunDevice = Static<typeof KrunDevice>;

export const KrunVmConfig = Type.Object(
  {
    /** The library the parent loaded and vetted: the child uses that one, not a search. */
    libkrun: Path,
    logLevel: Type.Integer({ minimum: 0, maximum: 5 }),
    cpus: Type.Integer({ minimum: 1, maximum: 255 }),
    memoryMib: Type.Integer({ minimum: 1, maximum: 0xffff_ffff }),
    kernel: Type.Object(
      {
        path: Path,
        format: Type.Union([Type.Literal(KRUN_KERNEL_FORMAT_RAW), Type.Literal(KRUN_KERNEL_FORMAT_ELF)]),
        cmdline: Type.String(),
      },
      strict,
    ),
    /** A probe VM has no agent channel: it only boots and powers off. */
    devices: Type.Array(KrunDevice),
    consolePath: Path,
    rlimits: Type.Array(Type.String()),
    /** The guest's environment, explicitly (an absent one would copy the host's). */
    env: Type.Array(Type.String()),
    /** Install boxlite's seccomp filter (seccomp.ts) just before the VM starts: the box is jailed. */
    seccomp: Type.Boolean(),
  },
  strict,
);
export type KrunVmConfig = Static<typeof KrunVmConfig>;

/** Parses and checks the child's stdin; the first problem found is the error. */
export function parseKrunVmConfig(text: string): KrunVmConfig {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BoxliteError("invalid_argument", "the VM configuration on stdin is not JSON (boxlite __vm is started by boxlite itself, not by hand)");
  }
  const problem = Value.Errors(KrunVmConfig, value).First();
  if (problem) throw new BoxliteError("invalid_argument", `the VM configuration on stdin is invalid at ${problem.path || "/"}: ${problem.message}`);
  return value as KrunVmConfig;
}

/** The kernel command line of a krun guest: the qemu guest's, with the agent on vsock. */
export function krunKernelCmdline(extraArgs: string[]): string {
  return [...BASE_KERNEL_ARGS, ...extraArgs].join(" ");
}

/** One VmSpec device in libkrun's terms: the only place the krun backend translates devices. */
function krunDevice(device: VmDevice): KrunDevice {
  switch (device.kind) {
    case "disk":
      return {
        kind: "disk",
        blockId: device.id,
        path: device.path,
        format: device.format === "qcow2" ? KRUN_DISK_FORMAT_QCOW2 : KRUN_DISK_FORMAT_RAW,
        readOnly: device.readOnly,
      };
    case "net":
      return { kind: "net", socketPath: device.socketPath, mac: device.mac, features: COMPAT_NET_FEATURES, flags: 0 };
    case "fs":
      // libkrun serves the directory itself, whole: it has no way to show one file of it alone.
      if (device.onlyName !== undefined)
        throw new BoxliteError(
          "unsupported",
          `a single-file volume (${device.onlyName}) needs the qemu backend: libkrun would share the file's whole directory with the box`,
        );
      // The QEMU-only server socket plays no part.
      return { kind: "fs", tag: device.tag, path: device.hostPath, readOnly: device.readOnly };
    case "agent":
      // No exec port (execSocketPath): its clients find no socket and use the box socket.
      return { kind: "agent", port: AGENT_VSOCK_PORT, socketPath: device.socketPath };
  }
}

/** A box's VM: its devices in libkrun's terms, the agent on vsock. */
export function boxVmConfig(spec: VmSpec, libkrun: string, logLevel: number): KrunVmConfig {
  return {
    libkrun,
    logLevel,
    cpus: spec.cpus,
    memoryMib: spec.memoryMib,
    kernel: {
      path: spec.kernel.elfPath,
      format: KRUN_KERNEL_FORMAT_ELF,
      cmdline: krunKernelCmdline([...spec.kernelArgs, `boxlite.vsock=${AGENT_VSOCK_PORT}`]),
    },
    devices: spec.devices.map(krunDevice),
    consolePath: spec.consolePath,
    rlimits: GUEST_RLIMITS,
    env: [],
    seccomp: spec.jail !== undefined,
  };
}

/** The probe VM: the system disk alone, and an agent that reports and powers off at once. */
export function probeVmConfig(kernel: GuestKernel, systemDiskPath: string, consolePath: string, libkrun: string): KrunVmConfig {
  return {
    libkrun,
    logLevel: 0,
    cpus: 1,
    memoryMib: 128,
    kernel: { path: kernel.elfPath, format: KRUN_KERNEL_FORMAT_ELF, cmdline: krunKernelCmdline(["boxlite.probe=1"]) },
    devices: [krunDevice(systemDisk(systemDiskPath))],
    consolePath,
    rlimits: GUEST_RLIMITS,
    env: [],
    seccomp: false,
  };
}
