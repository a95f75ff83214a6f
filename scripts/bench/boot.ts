/**
 * Boot benchmark (issue: "boxlite run boots a real micro-VM").
 *
 * 1. Cold boot: median wall time of `dist/boxlite run --rm -- true` against the physical
 *    floor — QEMU with a box's kernel, memory and devices whose init powers off at once
 *    (floor.ts) — interleaved run by run so both see the same machine load. Target ratio
 *    ≤ 1.15.
 * 2. Exec overhead: in a box started through the library, the median of what `exec true`
 *    takes beyond the process time the guest reports (exec-overhead.ts). Target ≤ 1 ms.
 *
 *   bun scripts/bench/boot.ts [--runs N] [--compare OLD_BINARY]
 *
 * `--compare` times another build's `run --rm -- true` in the same rounds (a before/after).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { measureExecOverhead } from "./exec-overhead.ts";
import { prepareFloor } from "./floor.ts";

const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 9;
const compareFlag = process.argv.indexOf("--compare");
const OTHER = compareFlag > 0 ? process.argv[compareFlag + 1] : undefined;
const binary = join(import.meta.dir, "..", "..", "dist", "boxlite");

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function timed(command: string[], env: Record<string, string | undefined>): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn(command, { env, stdout: "ignore", stderr: "pipe" });
  const code = await proc.exited;
  if (code !== 0) throw new Error(`${command[0]} exited ${code}: ${await new Response(proc.stderr).text()}`);
  return performance.now() - started;
}

const home = mkdtempSync(join(tmpdir(), "boxlite-bench-"));
// The cold path: no memory template to restore from, where a build has them.
const env = { ...process.env, BOXLITE_HOME: home, BOXLITE_TEMPLATES: "off" };
try {
  const config = loadConfig({ home }, env);
  const runtime = new Boxlite(config);
  const info = await runtime.info();
  const floor = await prepareFloor(config, info.vmm.accelerator, home);
  try {
    await timed([binary, "run", "--rm", "--", "true"], env); // warm the caches (image base, kernel, system disk)
    await timed(floor.argv, env);
    if (OTHER) await timed([OTHER, "run", "--rm", "--", "true"], env);
    const ours: number[] = [];
    const baseline: number[] = [];
    const other: number[] = [];
    const contenders: Array<{ argv: string[]; times: number[] }> = [
      { argv: floor.argv, times: baseline },
      { argv: [binary, "run", "--rm", "--", "true"], times: ours },
      ...(OTHER ? [{ argv: [OTHER, "run", "--rm", "--", "true"], times: other }] : []),
    ];
    for (let i = 0; i < RUNS; i++) {
      // Each round starts with another one: a run right after another was measured ~50 ms
      // faster than one after a pause, so a fixed order would favour whoever comes later.
      for (let k = 0; k < contenders.length; k++) {
        const contender = contenders[(i + k) % contenders.length] as (typeof contenders)[number];
        contender.times.push(await timed(contender.argv, env));
      }
    }
    const ratio = median(ours) / median(baseline);
    // Each run's own ratio too: a machine whose load drifts during the benchmark moves both of a pair alike.
    const pairRatio = median(ours.map((ms, i) => ms / (baseline[i] as number)));
    console.log(`accelerator: ${info.vmm.accelerator} (${RUNS} runs each, interleaved; load average ${loadavg()[0]?.toFixed(2)})`);
    console.log(`floor: QEMU with a box's kernel, memory and devices, init powers off: median ${median(baseline).toFixed(0)} ms`);
    console.log(`boxlite run --rm -- true:                                        median ${median(ours).toFixed(0)} ms`);
    console.log(
      `cold boot ratio: ${ratio.toFixed(3)} (target <= 1.15) ${ratio <= 1.15 ? "OK" : "OVER TARGET"}; median of the per-run ratios ${pairRatio.toFixed(3)}`,
    );
    if (OTHER) {
      const otherPairs = median(other.map((ms, i) => ms / (baseline[i] as number)));
      console.log(
        `${OTHER} run --rm -- true: median ${median(other).toFixed(0)} ms, ratio ${(median(other) / median(baseline)).toFixed(3)}; median of the per-run ratios ${otherPairs.toFixed(3)}`,
      );
    }
  } finally {
    floor.close();
  }

  const box = await runtime.create({ cmd: ["sleep", "3600"] });
  try {
    await runtime.start(box);
    const overhead = await measureExecOverhead(runtime, box);
    console.log(
      `exec true in a running box (library API): round trip - guest process time = p50 ${overhead.p50Ms.toFixed(2)} ms, p90 ${overhead.p90Ms.toFixed(2)} ms (${overhead.samplesMs.length} samples; target p50 <= 1 ms) ${overhead.p50Ms <= 1 ? "OK" : "OVER TARGET"}`,
    );
  } finally {
    await runtime.removeBox(box, { force: true });
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
