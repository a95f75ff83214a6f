/**
 * The host's TSC frequency, for guests under TCG. QEMU's TCG returns the host's TSC to
 * the guest, but this kernel cannot calibrate it on a microvm (no PIT/HPET) and falls back
 * to a jiffies clock with 4 ms steps. Telling it the frequency (`tsc_early_khz`) gives
 * the guest a microsecond clock. Only with an invariant TSC, whose rate never changes.
 */
import { readFileSync } from "node:fs";

let cached: number | undefined | null = null;

export function hostTscKhz(): number | undefined {
  if (cached !== null) return cached;
  cached = undefined;
  try {
    const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
    const flags = /^flags\s*:(.*)$/m.exec(cpuinfo)?.[1] ?? "";
    const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1]);
    if (/\bconstant_tsc\b/.test(flags) && /\bnonstop_tsc\b/.test(flags) && mhz > 0) cached = Math.round(mhz * 1000);
  } catch {
    // Not Linux or no /proc: the guest keeps its default clock.
  }
  return cached;
}
