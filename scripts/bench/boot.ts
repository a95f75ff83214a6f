/**
 * Boot benchmark (issue: "boxlite run boots a real micro-VM").
 *
 * 1. Median wall time of `dist/boxlite run --rm -- true` against a bare QEMU boot of
 *    the same kernel and system disk to /init and power-off (the agent's probe mode),
 *    interleaved run by run so both see the same machine load. Target ratio ≤ 1.15.
 * 2. In one running guest: median host-observed latency of a trivial command minus the
 *    process time the guest reports (what the runtime and channel add per command).
 *
 *   bun scripts/bench/boot.ts [--runs N]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ulid } from "ulid";
import { loadConfig } from "../../src/config/config.ts";
import { prepareDefaultImage } from "../../src/image/default-image.ts";
import { bootBox } from "../../src/runtime/boot.ts";
import { removeBox } from "../../src/runtime/box-layout.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { systemDisk } from "../../src/vmm/devices.ts";
import { qemuArgs } from "../../src/vmm/qemu/args.ts";
import { findQemu } from "../../src/vmm/qemu/binary.ts";

const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 9;
const LATENCY_SAMPLES = 40;
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
const env = { ...process.env, BOXLITE_HOME: home };
try {
  const config = loadConfig({ home }, env);
  const info = await new Boxlite(config).info();
  const qemu = findQemu(config);
  const bare = [
    qemu,
    ...qemuArgs(
      { accelerator: info.vmm.accelerator, kernelPath: info.kernel.image, consolePath: join(home, "bare-console.log"), memoryMib: 512, cpus: 1 },
      [systemDisk(info.systemDisk)],
      ["boxlite.probe=1"],
    ),
  ];
  await timed([binary, "run", "--rm", "--", "true"], env); // warm the caches (image base, kernel, system disk)
  const ours: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    baseline.push(await timed(bare, env));
    ours.push(await timed([binary, "run", "--rm", "--", "true"], env));
  }
  const ratio = median(ours) / median(baseline);
  console.log(`accelerator: ${info.vmm.accelerator} (${RUNS} runs each, interleaved)`);
  console.log(`bare QEMU boot to /init + power-off: median ${median(baseline).toFixed(0)} ms`);
  console.log(`boxlite run --rm -- true:            median ${median(ours).toFixed(0)} ms`);
  console.log(`ratio: ${ratio.toFixed(3)} (target <= 1.15) ${ratio <= 1.15 ? "OK" : "OVER TARGET"}`);

  const image = await prepareDefaultImage(config);
  const box = await bootBox(config, { id: ulid().toLowerCase(), image, cpus: 1, memoryMib: 512 });
  try {
    const overheads: number[] = [];
    const spec = { argv: ["true"], env: ["PATH=/bin:/usr/bin"], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false };
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const started = performance.now();
      const execution = box.channel.exec(spec, { onStdout: () => {}, onStderr: () => {} });
      const status = await execution.exit.promise;
      overheads.push((performance.now() - started) * 1000 - status.durationUs);
    }
    console.log(
      `trivial command in a running guest: host latency - guest process time = median ${(median(overheads) / 1000).toFixed(2)} ms (${LATENCY_SAMPLES} samples)`,
    );
  } finally {
    await box.stop();
    removeBox(box.layout);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
