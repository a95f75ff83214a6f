/**
 * Chooses QEMU's accelerator by booting, not by looking at /dev/kvm: on some hosts
 * /dev/kvm exists but cannot run a stock kernel (a nested paravirtual KVM spins for tens
 * of seconds, then fails; see docs/kernel.md). The probe is bounded and its verdict is
 * cached per host boot.
 */
import { accessSync, constants, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { AccelChoice, Config } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { GuestKernel } from "../kernel/kernel.ts";
import { probedOncePerBoot } from "../probe-cache.ts";
import { systemDisk } from "../devices.ts";
import { qemuArgs } from "./args.ts";

export interface AccelVerdict {
  accelerator: "kvm" | "tcg";
  reason: string;
}

const PROBE_TIMEOUT_MS = 5000;

function kvmUsable(): string | undefined {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return undefined;
  } catch {
    return "/dev/kvm is missing or not accessible";
  }
}

/** Boots the system disk in probe mode with KVM; success is a clean power-off in time. */
async function probeKvm(qemu: string, kernel: GuestKernel, systemDiskPath: string, scratchDir: string): Promise<AccelVerdict> {
  mkdirSync(scratchDir, { recursive: true });
  const args = qemuArgs(
    { accelerator: "kvm", kernelPath: kernel.elfPath, consolePath: join(scratchDir, "probe-console.log"), memoryMib: 128, cpus: 1 },
    [systemDisk(systemDiskPath)],
    ["boxlite.probe=1"],
  );
  const started = performance.now();
  const proc = Bun.spawn([qemu, ...args], { stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  const timer = setTimeout(() => proc.kill("SIGKILL"), PROBE_TIMEOUT_MS);
  const code = await proc.exited;
  clearTimeout(timer);
  const ms = Math.round(performance.now() - started);
  if (code === 0) return { accelerator: "kvm", reason: `a KVM probe VM booted and powered off in ${ms} ms` };
  const stderr = (await new Response(proc.stderr).text()).trim().split("\n")[0] ?? "";
  const why = proc.signalCode === "SIGKILL" ? `did not finish within ${PROBE_TIMEOUT_MS} ms` : `failed (exit ${code}${stderr ? `: ${stderr}` : ""})`;
  return { accelerator: "tcg", reason: `a KVM probe VM ${why}; using software emulation` };
}

/**
 * The verdict a forced BOXLITE_ACCEL gives, undefined for `auto`. `hvf` (Apple's
 * Hypervisor.framework) is refused rather than probed away: this QEMU backend is built for
 * Linux, where only kvm and tcg exist, and a silent fallback would hide the mistake.
 */
function forcedVerdict(choice: AccelChoice): AccelVerdict | undefined {
  switch (choice) {
    case "auto":
      return undefined;
    case "kvm":
    case "tcg":
      return { accelerator: choice, reason: `forced by BOXLITE_ACCEL=${choice}` };
    case "hvf":
      throw new BoxliteError(
        "unsupported",
        "BOXLITE_ACCEL=hvf cannot be honoured: hvf is macOS's Hypervisor.framework, and this boxlite runs QEMU on Linux, " +
          "where the accelerators are kvm and tcg; set BOXLITE_ACCEL to kvm, tcg or auto",
      );
  }
}

export async function chooseAccelerator(config: Config, qemu: string, kernel: GuestKernel, systemDiskPath: string): Promise<AccelVerdict> {
  const forced = forcedVerdict(config.accel);
  if (forced) return forced;
  const missing = kvmUsable();
  if (missing) return { accelerator: "tcg", reason: `${missing}; using software emulation` };

  return probedOncePerBoot(join(config.runtimeDir, "accel.json"), qemu, () => probeKvm(qemu, kernel, systemDiskPath, join(config.runtimeDir, "probe")));
}
