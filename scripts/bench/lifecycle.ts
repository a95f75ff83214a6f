/**
 * Lifecycle benchmark, in one run on a fresh home:
 *   1. on-disk footprint of a freshly created box (bytes and allocated blocks of
 *      boxes/<id>) — target <= 1 MiB;
 *   2. median whole-process time of `dist/boxlite create` against `dist/boxlite --version`
 *      (interleaved) — target ratio <= 2;
 *   3. `exec true` on a running box through the box socket (in-process client), minus the
 *      process time the guest reports (exec-overhead.ts).
 *
 *   bun scripts/bench/lifecycle.ts [--runs N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { measureExecOverhead } from "./exec-overhead.ts";

const at = process.argv.indexOf("--runs");
const RUNS = at > 0 ? Number(process.argv[at + 1]) : 15;
const binary = join(import.meta.dir, "..", "..", "dist", "boxlite");
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

const home = mkdtempSync(join(tmpdir(), "boxlite-bench-lifecycle-"));
const env = { ...process.env, BOXLITE_HOME: home, BOXLITE_ACCEL: process.env.BOXLITE_ACCEL ?? "tcg" };

function timed(args: string[]): { ms: number; stdout: string } {
  const started = performance.now();
  const proc = Bun.spawnSync([binary, ...args], { env, stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`boxlite ${args.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString()}`);
  return { ms: performance.now() - started, stdout: proc.stdout.toString() };
}

try {
  timed(["create", "--", "true"]); // warm-up: builds the default image's base disk once
  const id = timed(["create", "--", "true"]).stdout.trim();
  const du = (flag: string) =>
    Number(
      Bun.spawnSync(["du", "-s", flag, join(home, "boxes", id)])
        .stdout.toString()
        .split("\t")[0],
    );
  const apparent = du("--bytes");
  const allocated = du("--block-size=1");
  console.log(
    `fresh box footprint: ${(apparent / 1024).toFixed(0)} KiB apparent, ${(allocated / 1024).toFixed(0)} KiB allocated (target <= 1024 KiB) ${allocated <= 1024 * 1024 ? "OK" : "OVER TARGET"}`,
  );

  const floor: number[] = [];
  const create: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    floor.push(timed(["--version"]).ms);
    create.push(timed(["create", "--", "true"]).ms);
  }
  const ratio = median(create) / median(floor);
  console.log(`boxlite --version: median ${median(floor).toFixed(1)} ms; boxlite create: median ${median(create).toFixed(1)} ms`);
  console.log(`create ratio: ${ratio.toFixed(2)} (target <= 2) ${ratio <= 2 ? "OK" : "OVER TARGET"}`);

  process.env.BOXLITE_HOME = home;
  const runtime = Boxlite.open({ home });
  const box = timed(["run", "-d", "--", "sleep", "3600"]).stdout.trim();
  const overhead = await measureExecOverhead(runtime, box, { samples: RUNS * 4, warmup: 5 });
  console.log(`exec true: overhead beyond the guest-reported process time p50 ${overhead.p50Ms.toFixed(2)} ms, p90 ${overhead.p90Ms.toFixed(2)} ms`);
  timed(["rm", "-f", box]);
} finally {
  rmSync(home, { recursive: true, force: true });
}
