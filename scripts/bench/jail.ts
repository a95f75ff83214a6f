/**
 * Jail benchmark (issue 19: "the jail must be cheap"; docs/security.md).
 *
 * 1. `dist/boxlite run --rm -- true` with `--security enable` against `--security disable`,
 *    interleaved run by run in one home (templates on, as a user runs it). Target ratio ≤ 1.05.
 * 2. The boot benchmark's cold-boot ratio with the jail on: `run --rm --security enable -- true`
 *    without templates against the physical floor (floor.ts), as boot.ts measures it. Target ≤ 1.15.
 *
 *   bun scripts/bench/jail.ts [--runs N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { prepareFloor } from "./floor.ts";
import { machineLoad, median, spread, timedCommand } from "./stats.ts";

const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 9;
const binary = join(import.meta.dir, "..", "..", "dist", "boxlite");
const run = (security: string) => [binary, "run", "--rm", "--security", security, "--", "true"];

/** Each round starts with another contender: a run right after another is faster than one after a pause. */
async function interleaved(contenders: ReadonlyArray<{ argv: string[]; times: number[] }>, env: Record<string, string | undefined>): Promise<void> {
  for (const contender of contenders) await timedCommand(contender.argv, env); // warm: image base, kernel, system disk, template
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < contenders.length; k++) {
      const contender = contenders[(i + k) % contenders.length] as (typeof contenders)[number];
      contender.times.push(await timedCommand(contender.argv, env));
    }
  }
}

function ratios(ours: number[], baseline: number[]): { ratio: number; pairs: number } {
  return { ratio: median(ours) / median(baseline), pairs: median(ours.map((ms, i) => ms / (baseline[i] as number))) };
}

const home = mkdtempSync(join(tmpdir(), "boxlite-bench-jail-"));
try {
  const env = { ...process.env, BOXLITE_HOME: home };
  const jailed: number[] = [];
  const bare: number[] = [];
  await interleaved(
    [
      { argv: run("enable"), times: jailed },
      { argv: run("disable"), times: bare },
    ],
    env,
  );
  const security = ratios(jailed, bare);
  console.log(`${RUNS} runs each, interleaved; ${machineLoad()}`);
  console.log(`run --rm --security disable -- true: ${spread(bare)} ms`);
  console.log(`run --rm --security enable -- true:  ${spread(jailed)} ms`);
  console.log(
    `jail ratio: ${security.ratio.toFixed(3)} (target <= 1.05) ${security.ratio <= 1.05 ? "OK" : "OVER TARGET"}; median of the per-run ratios ${security.pairs.toFixed(3)}`,
  );

  const coldEnv = { ...env, BOXLITE_TEMPLATES: "off" };
  const config = loadConfig({ home }, coldEnv);
  const info = await new Boxlite(config).info();
  const floor = await prepareFloor(config, info.vmm.accelerator, home);
  try {
    const cold: number[] = [];
    const coldBare: number[] = [];
    const floorTimes: number[] = [];
    // The unjailed cold boot in the same rounds: what the machine's load does to the ratio, apart from the jail.
    await interleaved(
      [
        { argv: floor.argv, times: floorTimes },
        { argv: run("enable"), times: cold },
        { argv: run("disable"), times: coldBare },
      ],
      coldEnv,
    );
    const boot = ratios(cold, floorTimes);
    const bareBoot = ratios(coldBare, floorTimes);
    console.log(`floor (QEMU, a box's kernel and devices, init powers off): ${spread(floorTimes)} ms`);
    console.log(`cold run --rm --security enable -- true (no template):   ${spread(cold)} ms`);
    console.log(`cold run --rm --security disable -- true (no template):  ${spread(coldBare)} ms`);
    console.log(
      `cold boot ratio with the jail: ${boot.ratio.toFixed(3)} (target <= 1.15) ${boot.ratio <= 1.15 ? "OK" : "OVER TARGET"}; median of the per-run ratios ${boot.pairs.toFixed(3)}`,
    );
    console.log(`cold boot ratio without it, same rounds: ${bareBoot.ratio.toFixed(3)}; median of the per-run ratios ${bareBoot.pairs.toFixed(3)}`);
  } finally {
    floor.close();
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
