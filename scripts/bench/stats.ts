/**
 * Summaries for benchmarks measured on shared, noisy machines: a median with its
 * quartiles and extremes, so a printed figure says how far to trust it, and the
 * machine's load while it was measured.
 */
import { cpus, loadavg } from "node:os";

/** The q-quantile (0..1) of `values`, by linear interpolation between the nearest ranks. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) throw new Error("quantile of no values");
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const low = sorted[Math.floor(at)] as number;
  const high = sorted[Math.ceil(at)] as number;
  return low + (high - low) * (at - Math.floor(at));
}

export const median = (values: readonly number[]) => quantile(values, 0.5);

/** "median (q1–q3, min–max)" with `digits` decimals, e.g. "1264 (1201–1310, 1150–1502)". */
export function spread(values: readonly number[], digits = 0): string {
  const f = (value: number) => value.toFixed(digits);
  return `${f(median(values))} (q1–q3 ${f(quantile(values, 0.25))}–${f(quantile(values, 0.75))}, min–max ${f(Math.min(...values))}–${f(Math.max(...values))})`;
}

/** The 1-minute load average and CPU count, e.g. "load 3.41 on 2 CPUs": what else was running. */
export function machineLoad(): string {
  return `load ${(loadavg()[0] as number).toFixed(2)} on ${cpus().length} CPUs`;
}

/** Wall time of a command that must succeed, in ms (its stderr in the error when it fails). */
export async function timedCommand(command: string[], env: Record<string, string | undefined>): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(command, { env, stdout: "ignore", stderr: "pipe" });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${command[0]} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return performance.now() - started;
}
