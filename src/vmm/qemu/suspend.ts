/**
 * A suspended box's VM under QEMU (docs/suspend.md): its whole state, RAM included, saved
 * with QEMU's migration, and what a VM that loads it again must be — the same QEMU build,
 * accelerator, kernel, system disk, machine and devices as the box had, and its RAM under
 * the same name (QEMU matches RAM blocks by name: a cold-booted microvm's is `microvm.ram`,
 * a box started from a template has the `ram` backend).
 */
import { BoxliteError } from "../../util/errors.ts";
import { cachedSha256 } from "../../util/fs.ts";
import type { VmIdentity, VmSpec } from "../backend.ts";
import { shapeOf } from "./templates.ts";

/** Bumped whenever what a saved box state holds or how it is loaded changes: older ones are refused (2: the kernel and system disk by content). */
const SUSPEND_FORMAT = 2;
/** The name QEMU gives a microvm's RAM when no memory backend is given (a cold boot). */
export const DEFAULT_RAM_ID = "microvm.ram";

/** Why a VM of this spec cannot be saved, or undefined. */
export function saveRefusal(spec: VmSpec): string | undefined {
  if (spec.devices.some((device) => device.kind === "fs"))
    return "a box with volumes cannot be suspended: QEMU cannot save a vhost-user-fs device (its state is in fsd, outside QEMU); stop it instead";
  return undefined;
}

/** What a VM started from `spec` is, for comparing with a saved state's; `ram` is read from QEMU at save time. */
export function vmIdentity(spec: VmSpec, qemuBinary: string, accelerator: string, ram: string[]): VmIdentity {
  // Not the host's TSC rate, which a template's key has: /proc/cpuinfo's "cpu MHz" may read a
  // little differently after a reboot, and a resumed guest keeps the rate its clock was
  // calibrated with (at worst its monotonic clock drifts a little; WAKE sets its wall clock).
  const { hostTscKhz: _, ...shape } = shapeOf(spec, qemuBinary, accelerator);
  // The kernel and system disk by their contents, not their paths: those are under the user's
  // runtime directory (the kernel's name even hashes where its library was extracted), and a
  // state exported with its box (docs/suspend.md) is resumed under another user's, or on
  // another machine, which made the same files from the same boxlite build.
  const system = spec.devices.find((device) => device.kind === "disk" && device.id === "system");
  const systemDisk = system?.kind === "disk" ? cachedSha256(system.path) : null;
  return { ...shape, kernel: cachedSha256(spec.kernel.elfPath), systemDisk, format: SUSPEND_FORMAT, ram };
}

/**
 * The RAM backend id the resumed VM needs (undefined: QEMU's default), or a `conflict` naming
 * what differs when the saved state is from another QEMU, kernel, agent or machine.
 */
export function checkIdentity(saved: VmIdentity, spec: VmSpec, qemuBinary: string, accelerator: string): string | undefined {
  const ram = Array.isArray(saved.ram) ? saved.ram : [];
  const now = vmIdentity(spec, qemuBinary, accelerator, ram);
  const differ = Object.keys({ ...now, ...saved }).filter((key) => JSON.stringify(now[key]) !== JSON.stringify(saved[key]));
  if (differ.length > 0)
    throw new BoxliteError("conflict", `the box's saved state is from another VM than it would start now (${differ.join(", ")} differ): it cannot be resumed`);
  if (ram.length !== 1 || typeof ram[0] !== "string" || !/^[A-Za-z0-9._-]+$/.test(ram[0]))
    throw new BoxliteError("conflict", `the box's saved state names its RAM ${JSON.stringify(ram)}: it cannot be resumed`);
  return ram[0] === DEFAULT_RAM_ID ? undefined : ram[0];
}
