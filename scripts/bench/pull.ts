/**
 * Pull benchmark, all in one run against a local docker-registry:
 *   ours:     `dist/boxlite pull` of a ~50 MB, 5-layer image into an empty home
 *             (download, verify, apply layers, build the ext4 base disk);
 *   baseline: `skopeo copy` to an OCI layout + `tar -x` of each layer + `mke2fs -d`,
 *             the same work done in steps by standard tools.
 * Prints the ratio (target <= 1.0), then a cache-hit `run` of the image minus a
 * default-image `run` (what a cached registry image costs over the embedded one).
 *
 *   bun scripts/bench/pull.ts [--runs N]
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { busyboxLayer, writeOciImage } from "../../test/helpers/oci-image.ts";
import { startRegistry } from "../../test/helpers/registry.ts";

const at = process.argv.indexOf("--runs");
const RUNS = at > 0 ? Number(process.argv[at + 1]) : 3;
const binary = join(import.meta.dir, "..", "..", "dist", "boxlite");
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

function run(args: string[], env: Record<string, string> = {}): number {
  const started = performance.now();
  const proc = Bun.spawnSync(args, { env: { ...process.env, ...env }, stdout: "pipe", stderr: "pipe" });
  if (proc.exitCode !== 0) throw new Error(`${args.join(" ")} exited ${proc.exitCode}: ${proc.stderr.toString()}`);
  return performance.now() - started;
}

/** Files of random bytes, `mib` MiB per layer: a random 64 KiB block repeated, farther apart than gzip's 32 KiB window, so incompressible like binaries. */
function dataLayer(index: number, mib: number) {
  const entries = [];
  for (let file = 0; file < mib; file++) {
    const data = new Uint8Array(1024 * 1024);
    crypto.getRandomValues(data.subarray(0, 65536));
    for (let offset = 65536; offset < data.length; offset += 65536) data.copyWithin(offset, 0, 65536);
    entries.push({ path: `data${index}/file${file}.bin`, data });
  }
  return { entries, compression: "gzip" as const };
}

const work = mkdtempSync(join(tmpdir(), "boxlite-bench-pull-"));
const registry = await startRegistry();
try {
  const layout = join(work, "layout");
  writeOciImage(layout, "v1", { layers: [busyboxLayer(), dataLayer(1, 12), dataLayer(2, 12), dataLayer(3, 12), dataLayer(4, 12)], config: { Cmd: ["true"] } });
  await registry.push(layout, "bench/app", "v1");
  const ref = `${registry.host}/bench/app:v1`;

  const ours: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const home = join(work, `home-${i}`);
    ours.push(run([binary, "--home", home, "pull", "-q", ref]));

    const started = performance.now();
    const copy = join(work, `copy-${i}`);
    run(["skopeo", "copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${copy}:v1`]);
    const index = JSON.parse(readFileSync(join(copy, "index.json"), "utf8")) as { manifests: Array<{ digest: string }> };
    const manifestDigest = index.manifests[0]?.digest.slice(7) ?? "";
    const manifest = JSON.parse(readFileSync(join(copy, "blobs", "sha256", manifestDigest), "utf8")) as { layers: Array<{ digest: string }> };
    const rootfs = join(work, `rootfs-${i}`);
    mkdirSync(rootfs);
    for (const layer of manifest.layers) run(["tar", "-xzf", join(copy, "blobs", "sha256", layer.digest.slice(7)), "-C", rootfs]);
    run(["mke2fs", "-q", "-F", "-t", "ext4", "-b", "4096", "-d", rootfs, join(work, `base-${i}.ext4`), "1200M"]);
    baseline.push(performance.now() - started);
    for (const path of [home, copy, rootfs, join(work, `base-${i}.ext4`)]) rmSync(path, { recursive: true, force: true });
  }
  const ratio = median(ours) / median(baseline);
  console.log(`image: 5 layers, ~50 MB; ${RUNS} runs each`);
  console.log(`boxlite pull (+ base disk):          median ${median(ours).toFixed(0)} ms`);
  console.log(`skopeo copy + tar -x + mke2fs -d:    median ${median(baseline).toFixed(0)} ms`);
  console.log(`ratio: ${ratio.toFixed(3)} (target <= 1.0) ${ratio <= 1.0 ? "OK" : "OVER TARGET"}`);

  const home = join(work, "home-run");
  run([binary, "--home", home, "pull", "-q", ref]);
  const env = { BOXLITE_ACCEL: process.env.BOXLITE_ACCEL ?? "tcg" };
  // Warm-up: the default image's base disk is built on its first run.
  run([binary, "--home", home, "run", "--rm", "--", "true"], env);
  const cached: number[] = [];
  const builtin: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    cached.push(run([binary, "--home", home, "run", "--rm", ref], env));
    builtin.push(run([binary, "--home", home, "run", "--rm", "--", "true"], env));
  }
  console.log(
    `cache-hit run minus default-image run: ${(median(cached) - median(builtin)).toFixed(0)} ms (${median(cached).toFixed(0)} vs ${median(builtin).toFixed(0)} ms)`,
  );
} finally {
  await registry.stop();
  rmSync(work, { recursive: true, force: true });
}
