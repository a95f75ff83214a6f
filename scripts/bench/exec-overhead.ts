/**
 * What an exec adds to a command, measured in-process through the library API (shared by
 * the benchmarks): `true` runs `samples` times in a running box, after `warmup` runs that
 * are not counted, and each sample is the host's round trip — `exec` called to its exit
 * settled — less the process time the guest reports in EXIT (`duration_us`, fork to reap:
 * docs/guest-protocol.md). What is left is boxlite's: the box socket and its owner, the
 * channel, QEMU and the agent.
 */
import type { BoxliteApi } from "../../src/runtime/api.ts";

export interface ExecOverhead {
  p50Ms: number;
  p90Ms: number;
  /** Every sample, in milliseconds, in the order taken. */
  samplesMs: number[];
}

export interface ExecOverheadOptions {
  samples?: number;
  warmup?: number;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] as number;
}

export async function measureExecOverhead(runtime: Pick<BoxliteApi, "exec">, box: string, options: ExecOverheadOptions = {}): Promise<ExecOverhead> {
  const samples = options.samples ?? 100;
  const warmup = options.warmup ?? 10;
  const quiet = { onStdout: () => {}, onStderr: () => {} };
  const samplesMs: number[] = [];
  for (let i = 0; i < warmup + samples; i++) {
    const started = performance.now();
    const exec = await runtime.exec(box, { command: ["true"] }, quiet);
    const status = await exec.done;
    const totalMs = performance.now() - started;
    if (status.code !== 0) throw new Error(`true exited ${status.code} in box ${box}: ${status.error ?? ""}`);
    if (i >= warmup) samplesMs.push(totalMs - status.durationUs / 1000);
  }
  return { p50Ms: percentile(samplesMs, 0.5), p90Ms: percentile(samplesMs, 0.9), samplesMs };
}
