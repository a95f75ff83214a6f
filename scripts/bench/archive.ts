/**
 * Export speed: `writeArchive` against `tar --zstd -cf` of the same two files, measured side
 * by side in one run (alternating, page cache warm), on a 500 MB half-random, half-zero disk
 * and on a sparse 1 GiB qcow2-like disk. Prints each median and the ratio; the target is ≤ 1.2.
 *
 *   bun scripts/bench/archive.ts [rounds=5]
 */
import { closeSync, mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeArchive } from "../../src/disk/archive.ts";
import { machineLoad, median, spread } from "./stats.ts";

const MB = 1000 * 1000;
const MiB = 1024 * 1024;
const rounds = Number(process.argv[2] ?? 5);
const dir = mkdtempSync(join(tmpdir(), "boxlite-bench-archive-"));

function run(argv: string[]): void {
  const result = Bun.spawnSync(argv, { stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
}

/** 1 MiB random, 1 MiB zeros, alternating, to `size` bytes. */
function halfRandom(path: string, size: number): void {
  const bytes = new Uint8Array(size);
  for (let at = 0; at < size; at += 2 * MiB) {
    const piece = bytes.subarray(at, Math.min(size, at + MiB));
    for (let i = 0; i < piece.length; i += 65536) crypto.getRandomValues(piece.subarray(i, i + 65536));
  }
  writeFileSync(path, bytes);
}

/** A 1 GiB file as a flattened qcow2 looks: mostly holes, 64 KiB clusters of data here and there, some of it compressible. */
function sparseQcow2(path: string): void {
  run(["truncate", "-s", String(1024 * MiB), path]);
  const random = crypto.getRandomValues(new Uint8Array(64 * 1024));
  const text = new TextEncoder().encode("boxlite ".repeat(8192));
  const fd = openSync(path, "r+");
  for (let cluster = 0; cluster < 16384; cluster += 7) {
    if (cluster % 3 === 0) continue;
    writeSync(fd, cluster % 2 ? random : text, 0, 64 * 1024, cluster * 64 * 1024);
  }
  closeSync(fd);
}

async function time(work: () => Promise<void> | void): Promise<number> {
  const start = performance.now();
  await work();
  return (performance.now() - start) / 1000;
}

async function compare(name: string, container: string): Promise<number> {
  const guest = join(dir, "guest.qcow2");
  const ours: number[] = [];
  const tars: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const dest = join(dir, "out.boxlite");
    tars.push(await time(() => run(["tar", "--zstd", "-C", dir, "-cf", join(dir, "out.tar.zst"), container.slice(dir.length + 1), "guest.qcow2"])));
    ours.push(await time(async () => void (await writeArchive({ dest, image: "bench", disks: { container, guest } }))));
    rmSync(dest, { force: true });
    rmSync(join(dir, "out.tar.zst"), { force: true });
  }
  const ratio = median(ours) / median(tars);
  console.log(`${name}: writeArchive ${spread(ours, 2)} s; tar --zstd ${spread(tars, 2)} s; ratio ${ratio.toFixed(2)}`);
  return ratio;
}

try {
  writeFileSync(join(dir, "guest.qcow2"), crypto.getRandomValues(new Uint8Array(MiB)));
  halfRandom(join(dir, "half.qcow2"), 500 * MB);
  sparseQcow2(join(dir, "sparse.qcow2"));
  console.log(`${machineLoad()}; ${rounds} rounds each; sparse file allocates ${(statSync(join(dir, "sparse.qcow2")).blocks * 512) / MiB} MiB of 1024`);
  await compare("500 MB half random, half zero", join(dir, "half.qcow2"));
  await compare("1 GiB sparse qcow2-like", join(dir, "sparse.qcow2"));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
