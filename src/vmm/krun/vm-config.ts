/**
 * What the krun backend hands its `boxlite __vm` child on stdin (never on argv, so nothing
 * in it shows in `ps`): the whole libkrun configuration of one VM, built from a VmSpec
 * here and replayed call by call there (vm.ts). The child validates it, so a malformed
 * document is refused with the field that is wrong, never half-applied.
 */
import { type Static, Type } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { BoxliteError } from "../../util/errors.ts";
import { BASE_KERNEL_ARGS, type VmSpec } from "../backend.ts";
import type { GuestKernel } from "../kernel/kernel.ts";
import { KRUN_DISK_FORMAT_QCOW2, KRUN_DISK_FORMAT_RAW, KRUN_KERNEL_FORMAT_ELF, KRUN_KERNEL_FORMAT_RAW } from "./ffi.ts";

/** The guest port the agent listens on; libkrun bridges it to the box's agent socket. */
export const AGENT_VSOCK_PORT = 2695;

/**
 * RLIMIT_NOFILE (7) raised for the guest, as the reference does (its NPROC cap is left
 * out: a qemu box has none, and both backends boot the same guest).
 */
export const GUEST_RLIMITS = ["7=1048576:1048576"];

const DiskFormat = Type.Union([Type.Literal(KRUN_DISK_FORMAT_RAW), Type.Literal(KRUN_DISK_FORMAT_QCOW2)]);
const Path = Type.String({ minLength: 1 });

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
      { additionalProperties: false },
    ),
    /** In order: the first is the guest's vda, the second vdb. */
    disks: Type.Array(
      Type.Object({ blockId: Type.String({ minLength: 1 }), path: Path, format: DiskFormat, readOnly: Type.Boolean() }, { additionalProperties: false }),
    ),
    /** The agent's channel; null for a probe VM, which only boots and powers off. */
    agent: Type.Union([
      Type.Null(),
      Type.Object({ port: Type.Integer({ minimum: 1, maximum: 0xffff_fffe }), socketPath: Path }, { additionalProperties: false }),
    ]),
    consolePath: Path,
    rlimits: Type.Array(Type.String()),
    /** The guest's environment, explicitly (an absent one would copy the host's). */
    env: Type.Array(Type.String()),
  },
  { additionalProperties: false },
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

/** A box's VM: the system disk (vda, read-only raw), its rootfs (vdb, qcow2), the agent on vsock. */
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
    disks: [
      { blockId: "system", path: spec.systemDisk, format: KRUN_DISK_FORMAT_RAW, readOnly: true },
      { blockId: "rootfs", path: spec.rootfsDisk, format: KRUN_DISK_FORMAT_QCOW2, readOnly: false },
    ],
    agent: { port: AGENT_VSOCK_PORT, socketPath: spec.agentSocketPath },
    consolePath: spec.consolePath,
    rlimits: GUEST_RLIMITS,
    env: [],
  };
}

/** The probe VM: the system disk alone, and an agent that reports and powers off at once. */
export function probeVmConfig(kernel: GuestKernel, systemDisk: string, consolePath: string, libkrun: string): KrunVmConfig {
  return {
    libkrun,
    logLevel: 0,
    cpus: 1,
    memoryMib: 128,
    kernel: { path: kernel.elfPath, format: KRUN_KERNEL_FORMAT_ELF, cmdline: krunKernelCmdline(["boxlite.probe=1"]) },
    disks: [{ blockId: "system", path: systemDisk, format: KRUN_DISK_FORMAT_RAW, readOnly: true }],
    agent: null,
    consolePath,
    rlimits: GUEST_RLIMITS,
    env: [],
  };
}
