/**
 * Flatten speed against qemu-img convert -O qcow2, the benchmark it must match (not a
 * test). Run: bun ffi/qcow2/bench.ts [MiB written, default 500]
 * Builds a sparse 4 GiB raw base with 200 MiB of data, a 64 KiB-cluster overlay with
 * `MiB` written in 1 MiB pieces spread over the disk, then times both, warm cache,
 * best of three.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { flatten } from "../../src/disk/qcow2.ts";

const written = Number(process.argv[2] ?? 500);
const dir = mkdtempSync(join(tmpdir(), "boxlite-flatten-bench-"));

function run(argv: string[]): void {
  const result = Bun.spawnSync(argv, { cwd: dir });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
}

function writes(count: number, stride: number, pattern: number): string[] {
  return Array.from({ length: count }, (_, i) => ["-c", `write -P 0x${(pattern + (i % 64)).toString(16)} ${i * stride}M 1M`]).flat();
}

function best(label: string, action: (out: string) => void): number {
  let fastest = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    const out = join(dir, `${label}-${i}.qcow2`);
    run(["sync"]); // no dirty pages of the last run in this one's fsync
    const start = performance.now();
    action(out);
    fastest = Math.min(fastest, performance.now() - start);
    rmSync(out);
  }
  return fastest;
}

try {
  run(["qemu-img", "create", "-q", "-f", "raw", "base.raw", "4G"]);
  run(["qemu-io", "-f", "raw", ...writes(200, 20, 0x20), "base.raw"]);
  run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "top.qcow2"]);
  run(["qemu-io", "-f", "qcow2", ...writes(written, Math.max(1, Math.floor(4000 / written)), 0x40), "top.qcow2"]);
  const top = join(dir, "top.qcow2");
  const ours = best("flatten", (out) => flatten(top, out));
  // qemu-img's default output cache mode, unsafe, never flushes; writeback flushes at the
  // end, as flatten's fsync does.
  const unsafe = best("qemu", (out) => run(["qemu-img", "convert", "-O", "qcow2", top, out]));
  const flushed = best("qemu-wb", (out) => run(["qemu-img", "convert", "-t", "writeback", "-O", "qcow2", top, out]));
  console.log(`${written} MiB overlay over a 4 GiB raw base with 200 MiB of data (warm cache, best of 3)`);
  console.log(`flatten (fsync'd)                           ${ours.toFixed(0)} ms`);
  console.log(`qemu-img convert -O qcow2 (no flush)        ${unsafe.toFixed(0)} ms`);
  console.log(`qemu-img convert -t writeback -O qcow2      ${flushed.toFixed(0)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
