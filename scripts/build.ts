/**
 * Builds boxlite: the C parts with the system compilers, the default image, the guest
 * kernel library (libkrunfw, from vendor/), then one executable with everything embedded
 * (`bun build --compile`).
 *
 *   bun scripts/build.ts            # everything, dist/boxlite
 *   bun scripts/build.ts --assets   # only what `bun test` needs (no executable)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildDefaultImage } from "./default-image.ts";

const root = join(import.meta.dir, "..");
const build = join(root, "build");

/** Executables per platform. The embedded C parts are built for the host, so one target per build host. */
const TARGETS: Record<string, { bunTarget: string; outfile: string }> = {
  "linux-x64": { bunTarget: "bun-linux-x64", outfile: "dist/boxlite" },
};

function run(command: string[], cwd = root): void {
  const proc = Bun.spawnSync(command, { cwd, stdout: "inherit", stderr: "inherit" });
  if (proc.exitCode !== 0) throw new Error(`${command.join(" ")} failed with exit code ${proc.exitCode}`);
}

/**
 * The guest kernel library to embed, with its SHA-256 beside it: the runtime names its
 * extracted copy by that sum without hashing 21 MB on every start. Copied only when it changed.
 */
function stageLibkrunfw(): void {
  const source = join(root, "vendor", "libkrunfw", "libkrunfw.so.5");
  if (!existsSync(source)) throw new Error(`${source} is missing: run bash scripts/fetch-libkrunfw.sh (or scripts/setup.sh) first`);
  const bytes = readFileSync(source);
  const sum = new Bun.CryptoHasher("sha256").update(bytes).digest("hex");
  const dir = join(build, "kernel");
  const sumPath = join(dir, "libkrunfw.so.5.sha256");
  if (existsSync(sumPath) && readFileSync(sumPath, "utf8").trim() === sum) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "libkrunfw.so.5"), bytes);
  writeFileSync(sumPath, `${sum}\n`);
}

function buildAssets(): void {
  run(["make", "-s", "-C", "guest", `OUT=${join(build, "guest")}`]);
  run(["make", "-s", "-C", "ffi/qcow2", `OUT=${join(build, "ffi")}`]);
  run(["make", "-s", "-C", "host", `OUT=${join(build, "host")}`]);
  run(["make", "-s", "-C", "host/netd", `OUT=${join(build, "host")}`]);
  run(["make", "-s", "-C", "host/fsd", `OUT=${join(build, "host")}`]);
  run(["make", "-s", "-C", "test/fixtures/libkrun-recorder", `OUT=${join(build, "libkrun-recorder")}`]); // the libkrun test double, tests only
  run(["make", "-s", "-C", "test/fixtures/net", `OUT=${join(build, "net-fixtures")}`]); // the fake box's tap bridge, tests only
  run(["make", "-s", "-C", "test/fixtures/hostile-guest", `OUT=${join(build, "hostile-guest")}`]); // a misbehaving guest agent, tests only
  stageLibkrunfw();
}

async function main(): Promise<void> {
  const started = performance.now();
  buildAssets();
  await buildDefaultImage(join(build, "image", "default-rootfs.tar.gz"));
  if (!process.argv.includes("--assets")) {
    const platformKey = `${process.platform}-${process.arch}`;
    const target = TARGETS[platformKey];
    if (!target) throw new Error(`no build target for ${platformKey}; known: ${Object.keys(TARGETS).join(", ")}`);
    // --bytecode: precompiled JavaScript, so a short command (ls, --version) starts faster.
    // No autoloading of the working directory's .env and bunfig.toml (on by default in a
    // compiled executable): a project's .env must not move boxlite's home or server.
    const noAutoload = ["--no-compile-autoload-dotenv", "--no-compile-autoload-bunfig"];
    run([
      process.execPath,
      "build",
      "--compile",
      "--bytecode",
      ...noAutoload,
      "--format=esm",
      `--target=${target.bunTarget}`,
      "src/main.ts",
      // A worker's entry must be an entry point of its own (see src/image/layer-thread.ts, src/disk/pack-thread.ts, src/util/hash-thread.ts).
      "src/image/layer-worker.ts",
      "src/disk/pack-worker.ts",
      "src/util/hash-worker.ts",
      "--outfile",
      target.outfile,
    ]);
  }
  console.log(`build: done in ${Math.round(performance.now() - started)} ms`);
}

await main();
