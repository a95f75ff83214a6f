/**
 * Fast-start benchmark (issue: "Start in a fraction of a boot"), one run, side by side:
 *
 * 1. `dist/boxlite run --rm -- true` restored from a memory template against the same
 *    with BOXLITE_TEMPLATES=off (a cold boot), interleaved. Target ratio <= 0.25.
 * 2. A box restored from a template: the first `exec` right after the restore, and the
 *    median time an exec adds beyond the guest's own process time, through the library as
 *    boot.ts measures it (exec-overhead.ts). Target <= 1 ms.
 * 3. Host memory of an idle restored box's QEMU against an idle cold-booted one's: RSS and
 *    PSS (shared pages split among their users). Target RSS ratio <= 0.5.
 * 4. `dist/boxlite suspend` and `resume` of a detached box running a counter loop, CLI to
 *    CLI (docs/suspend.md). Target resume <= 0.3 s.
 * 5. Idle restored boxes (default size, with their network) held at once: boxes are added
 *    until an `exec` on one of them takes over 1 s, MemAvailable falls under 1 GiB, or
 *    `--max` is reached. Target >= 100.
 *
 *   bun scripts/bench/fast-start.ts [--runs N] [--max N]
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ulid } from "ulid";
import { type Config, loadConfig } from "../../src/config/config.ts";
import type { ExecRequest } from "../../src/guest-protocol/messages.ts";
import { prepareDefaultImage } from "../../src/image/default-image.ts";
import type { ImageBase } from "../../src/image/image.ts";
import { type BootedBox, bootBox } from "../../src/runtime/boot.ts";
import { boxLayout, removeBox } from "../../src/runtime/box-layout.ts";
import { boxNetwork } from "../../src/runtime/box-network.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { measureExecOverhead } from "./exec-overhead.ts";
import { machineLoad, median, spread, timedCommand } from "./stats.ts";

function flag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
const RUNS = flag("--runs", 7);
const MAX_BOXES = flag("--max", 120);
const MEMORY_MIB = 512;
const binary = join(import.meta.dir, "..", "..", "dist", "boxlite");
const TRUE: ExecRequest = { argv: ["true"], env: ["PATH=/bin:/usr/bin"], cwd: "/", create_cwd: false, user: "", tty: null, stdin: false };

/** The host's round trip of one exec of `true` on the box's channel, in ms. */
async function execRoundTrip(box: BootedBox): Promise<number> {
  const started = performance.now();
  await box.channel.exec(TRUE, { onStdout: () => {}, onStderr: () => {} }).exit.promise;
  return performance.now() - started;
}

/** A box as `boxlite run` makes it by default (512 MiB, one vCPU, the network on), owned by this process. */
async function idleBox(config: Config, image: ImageBase): Promise<BootedBox> {
  const id = ulid().toLowerCase();
  const network = await boxNetwork(config, boxLayout(config, id), { mode: "enabled", allowNet: [] }, []);
  return bootBox(config, { id, image, cpus: 1, memoryMib: MEMORY_MIB, ...(network ? { network } : {}) });
}

/** Resident and proportional set size of the box's QEMU, in MiB. */
function memoryOf(box: BootedBox): { rss: number; pss: number } {
  const pid = box.vm.members.find((member) => member.name === "vmm")?.pid;
  const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, "m").exec(rollup)?.[1] ?? Number.NaN) / 1024;
  return { rss: field("Rss"), pss: field("Pss") };
}

function memAvailableMib(): number {
  return Number(/^MemAvailable:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]) / 1024;
}

async function stopAll(boxes: BootedBox[]): Promise<void> {
  await Promise.all(
    boxes.map(async (box) => {
      await box.stop();
      removeBox(box.layout);
    }),
  );
}

const home = mkdtempSync(join(tmpdir(), "boxlite-bench-"));
const env = { ...process.env, BOXLITE_HOME: home, BOXLITE_TEMPLATES: "on" };
const coldEnv = { ...env, BOXLITE_TEMPLATES: "off" };
try {
  // 1. Whole CLI runs. The first builds the template (and warms the image and kernel caches).
  await timedCommand([binary, "run", "--rm", "--", "true"], env);
  const restored: number[] = [];
  const cold: number[] = [];
  // Each round starts with the other one: a run right after another is faster than one after a pause.
  for (let i = 0; i < RUNS; i++) {
    const coldRun = () => timedCommand([binary, "run", "--rm", "--", "true"], coldEnv);
    const restoredRun = () => timedCommand([binary, "run", "--rm", "--", "true"], env);
    if (i % 2 === 0) cold.push(await coldRun());
    restored.push(await restoredRun());
    if (i % 2 === 1) cold.push(await coldRun());
  }
  const ratio = median(restored) / median(cold);
  // The machine's speed drifts over a run: each round's own ratio, then their median, is steadier.
  const pairs = median(restored.map((time, i) => time / (cold[i] as number)));
  console.log(`run --rm -- true (${RUNS} runs each, interleaved; ${machineLoad()})`);
  console.log(`  cold boot:          ${spread(cold)} ms`);
  console.log(`  from a template:    ${spread(restored)} ms`);
  console.log(`  ratio: ${ratio.toFixed(3)} (target <= 0.25) ${ratio <= 0.25 ? "OK" : "OVER TARGET"}; median of the per-run ratios ${pairs.toFixed(3)}`);

  // 2 and 3: one restored box and one cold box, in-process.
  const config = loadConfig({ home }, env);
  const coldConfig = loadConfig({ home }, coldEnv);
  const image = await prepareDefaultImage(config);
  const restoredBox = await idleBox(config, image);
  const coldBox = await idleBox(coldConfig, image);
  try {
    console.log(`exec right after a restore: first ${(await execRoundTrip(restoredBox)).toFixed(1)} ms round trip`);
    // As boot.ts measures it: through the library, on a box restored from a template.
    const runtime = new Boxlite(config);
    const libraryBox = await runtime.create({ cmd: ["sleep", "3600"] });
    try {
      await runtime.start(libraryBox);
      const overhead = await measureExecOverhead(runtime, libraryBox);
      console.log(
        `  exec overhead beyond the guest's process time (library API): p50 ${overhead.p50Ms.toFixed(2)} ms, p90 ${overhead.p90Ms.toFixed(2)} ms (${overhead.samplesMs.length} samples; target p50 <= 1) ${overhead.p50Ms <= 1 ? "OK" : "OVER TARGET"}`,
      );
    } finally {
      await runtime.removeBox(libraryBox, { force: true });
    }
    await Bun.sleep(3000); // idle: whatever start-up pages settle
    const a = memoryOf(restoredBox);
    const b = memoryOf(coldBox);
    const rssRatio = a.rss / b.rss;
    console.log(`idle QEMU memory: restored RSS ${a.rss.toFixed(0)} MiB (PSS ${a.pss.toFixed(0)}), cold RSS ${b.rss.toFixed(0)} MiB (PSS ${b.pss.toFixed(0)})`);
    console.log(`  RSS ratio: ${rssRatio.toFixed(2)} (target <= 0.5) ${rssRatio <= 0.5 ? "OK" : "OVER TARGET"}; PSS ratio ${(a.pss / b.pss).toFixed(2)}`);
  } finally {
    await stopAll([restoredBox, coldBox]);
  }

  // 4. Suspend and resume, CLI to CLI.
  const started = Bun.spawnSync([binary, "run", "-d", "--", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /counter; sleep 0.1; done"], { env });
  const box = started.stdout.toString().trim();
  if (started.exitCode !== 0) throw new Error(`run -d failed: ${started.stderr.toString()}`);
  const suspends: number[] = [];
  const resumes: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      suspends.push(await timedCommand([binary, "suspend", box], env));
      resumes.push(await timedCommand([binary, "resume", box], env));
    }
  } finally {
    // A failed step must not leave the box running past the benchmark.
    await timedCommand([binary, "rm", "-f", box], env);
  }
  const resumeMs = median(resumes);
  console.log(`suspend: ${spread(suspends)} ms; resume: ${spread(resumes)} ms (target <= 300) ${resumeMs <= 300 ? "OK" : "OVER TARGET"}`);

  // 5. Idle boxes held at once.
  const held: BootedBox[] = [];
  let worst = 0;
  let why = `--max ${MAX_BOXES} reached`;
  try {
    while (held.length < MAX_BOXES) {
      if (memAvailableMib() < 1024) {
        why = `MemAvailable under 1 GiB (${memAvailableMib().toFixed(0)} MiB)`;
        break;
      }
      held.push(await idleBox(config, image));
      const probe = held[Math.floor(Math.random() * held.length)] as BootedBox;
      worst = await execRoundTrip(probe);
      if (worst > 1000) {
        why = `an exec took ${worst.toFixed(0)} ms`;
        break;
      }
    }
    const count = held.length;
    console.log(
      `idle restored boxes held at once: ${count} (stopped: ${why}; last exec ${worst.toFixed(0)} ms; MemAvailable ${memAvailableMib().toFixed(0)} MiB)`,
    );
    console.log(`  target >= 100: ${count >= 100 ? "OK" : "UNDER TARGET"}`);
  } finally {
    await stopAll(held);
  }
} finally {
  rmSync(home, { recursive: true, force: true });
}
