/**
 * Volume benchmark (issue 16): the same work in one box, on the box's own disk and on a
 * volume (a host directory served by fsd over virtio-fs), side by side.
 *
 * - untar a 20,000-file source tree (2,000 directories of 10 files, 0.5–4 KiB each);
 * - `find | wc -l` over it, and `stat` of every file;
 * - a `git status`-like walk: every file's size and mtime (`ls -lR`);
 * - a 200 MB sequential write (fsynced) and read.
 * The guest's caches are dropped before each step, so every step reaches its disk or the
 * host. Targets under TCG: metadata work ≤ 4× the box's own disk, sequential I/O ≥ 50 MB/s.
 * Each step is timed from the host around `boxlite exec`, less the median of an empty exec.
 * The same untar done by the host itself, beside the volume, is printed too: the floor of
 * what fsd's creates can cost on that filesystem, and a check on the host's state.
 *
 * Nothing is deleted until the end (the source tree, each run's extracted trees): on an ext4
 * without a journal, as this machine's root, every file created after a mass delete scans
 * past the inodes freed in the last minutes (docs/volumes.md, "Benchmark"), which would
 * time the host's allocator, not the volume.
 *
 *   bun scripts/bench/volumes.ts [--runs N]   (after bun scripts/build.ts: it runs dist/boxlite)
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 3;
const DIRS = 2000;
const FILES_PER_DIR = 10;
const BIG_MB = 200;
const root = join(import.meta.dir, "..", "..");
const binary = join(root, "dist", "boxlite");
const BOX = "bench-volumes";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

const work = mkdtempSync(join(tmpdir(), "boxlite-bench-vol-"));
const env: Record<string, string | undefined> = { ...process.env, BOXLITE_HOME: join(work, "home") };

async function boxlite(args: string[]): Promise<string> {
  const proc = Bun.spawn([binary, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exitCode !== 0) throw new Error(`boxlite ${args.join(" ")} failed (${exitCode}): ${stderr}`);
  return stdout;
}

/** Seconds a script takes in the box, timed around exec. */
async function timed(script: string): Promise<number> {
  const started = performance.now();
  await boxlite(["exec", BOX, "--", "sh", "-c", script]);
  return (performance.now() - started) / 1000;
}

/** A source tree of DIRS × FILES_PER_DIR small files, as a tar the box reads from its own disk. */
function makeTree(): void {
  const tree = join(work, "tree");
  let seed = 1;
  for (let d = 0; d < DIRS; d++) {
    const dir = join(tree, `pkg${d % 100}`, `mod${d}`);
    mkdirSync(dir, { recursive: true });
    for (let f = 0; f < FILES_PER_DIR; f++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      writeFileSync(join(dir, `file${f}.js`), "x".repeat(512 + (seed % 3584)));
    }
  }
  const tar = join(work, "input", "tree.tar");
  mkdirSync(join(work, "input"));
  const made = Bun.spawnSync(["tar", "-cf", tar, "-C", tree, "."]);
  if (made.exitCode !== 0) throw new Error(`tar: ${made.stderr.toString()}`);
}

/** A box's /proc/sys is read-only (docs/security.md): the bench box has SYS_ADMIN to remount it in the command's own mount namespace. */
const DROP = "sync; mount -o remount,bind,rw /proc/sys && echo 3 > /proc/sys/vm/drop_caches";
/** The steps, on a target directory T; each drops the guest's caches first. */
const STEPS: Array<[string, (t: string) => string]> = [
  ["untar 20,000 files", (t) => `${DROP}; mkdir -p ${t} && tar -xf /root/tree.tar -C ${t} && sync`],
  ["find | wc -l", (t) => `${DROP}; find ${t} | wc -l >/dev/null`],
  ["stat every file", (t) => `${DROP}; find ${t} -type f | xargs stat -c %s >/dev/null`],
  ["git-status-like walk (ls -lR)", (t) => `${DROP}; ls -lR ${t} >/dev/null`],
  [`write ${BIG_MB} MB (fsync)`, (t) => `dd if=/dev/zero of=${t}/big bs=1M count=${BIG_MB} conv=fsync 2>/dev/null`],
  [`read ${BIG_MB} MB`, (t) => `${DROP}; dd if=${t}/big of=/dev/null bs=1M 2>/dev/null`],
];

try {
  makeTree();
  mkdirSync(join(work, "vol"));
  await boxlite([
    "run",
    "-d",
    "--cap-add",
    "SYS_ADMIN",
    "--name",
    BOX,
    "--memory",
    "1024",
    // Room for every run's tree on the box's own disk: nothing is deleted until the end.
    "--disk-size",
    "4",
    "-v",
    `${join(work, "input")}:/input:ro`,
    "-v",
    `${join(work, "vol")}:/vol`,
    "--",
    "sleep",
    "100000",
  ]);
  await boxlite(["exec", BOX, "--", "cp", "/input/tree.tar", "/root/tree.tar"]);
  const empty: number[] = [];
  for (let i = 0; i < 5; i++) empty.push(await timed("true"));
  const overhead = median(empty);
  const results = new Map<string, { disk: number[]; volume: number[] }>();
  const hostUntar: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    hostUntar.push(untarOnHost(join(work, `host${run}`)));
    for (const [target, dir] of [
      ["disk", `/root/t${run}`],
      ["volume", `/vol/t${run}`],
    ] as const) {
      for (const [name, script] of STEPS) {
        const seconds = Math.max(0.001, (await timed(script(dir))) - overhead);
        const entry = results.get(name) ?? { disk: [], volume: [] };
        entry[target].push(seconds);
        results.set(name, entry);
      }
      await timed(`rm -f ${dir}/big`);
    }
  }
  console.log(`volumes benchmark: ${RUNS} runs, medians; exec overhead ${(overhead * 1000).toFixed(0)} ms subtracted`);
  console.log(`${"step".padEnd(32)} ${"own disk".padStart(10)} ${"volume".padStart(10)} ${"ratio".padStart(7)}`);
  for (const [name, { disk, volume }] of results) {
    const [d, v] = [median(disk), median(volume)];
    const rate = name.includes(" MB") ? `   (${(BIG_MB / d).toFixed(0)} vs ${(BIG_MB / v).toFixed(0)} MB/s)` : "";
    console.log(`${name.padEnd(32)} ${`${d.toFixed(2)} s`.padStart(10)} ${`${v.toFixed(2)} s`.padStart(10)} ${(v / d).toFixed(2).padStart(7)}${rate}`);
  }
  console.log(`fsd resident memory: ${fsdRss()}`);
  console.log(`volume's host filesystem: ${hostFilesystem(join(work, "vol"))}`);
  console.log(
    `the same untar on the host, beside the volume (no VM): ${median(hostUntar).toFixed(2)} s (a slow one means the host's allocator, not the volume, is slow)`,
  );
} finally {
  await boxlite(["rm", "-f", BOX]).catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}

/** Seconds the host itself takes to untar the tree into `dir`, on the volume's filesystem: what fsd's own creates cost at least. */
function untarOnHost(dir: string): number {
  mkdirSync(dir);
  const started = performance.now();
  for (const argv of [
    ["tar", "-xf", join(work, "input", "tree.tar"), "-C", dir],
    ["sync", "-f", dir],
  ]) {
    const done = Bun.spawnSync(argv);
    if (done.exitCode !== 0) throw new Error(`${argv[0]}: ${done.stderr.toString()}`);
  }
  return (performance.now() - started) / 1000;
}

/**
 * The filesystem the volume's host directory is on, and whether it is an ext4 without a
 * journal (whose allocator skips recently freed inodes one by one: see the header).
 */
function hostFilesystem(dir: string): string {
  const found = Bun.spawnSync(["findmnt", "-n", "-o", "SOURCE,FSTYPE", "-T", dir]).stdout.toString().trim().split(/\s+/);
  const [source = "", type = "unknown"] = found;
  if (type !== "ext4") return type;
  const device = source.replace(/^\/dev\//, "");
  const journaled = Bun.spawnSync(["sh", "-c", `ls /proc/fs/jbd2 | grep -q "^${device}-"`]).exitCode === 0;
  return journaled ? "ext4 (journaled)" : "ext4 without a journal: files made soon after a mass delete are slow to allocate";
}

/**
 * The file server's own memory (RssAnon) and how much of the guest's RAM it has mapped and
 * touched (RssShmem: the box's memory, shared with QEMU, not an extra cost), from /proc.
 */
function fsdRss(): string {
  const pid = Bun.spawnSync(["pgrep", "-f", "^[^ ]*/fsd-[0-9a-f]+ --socket"]).stdout.toString().trim().split("\n")[0];
  if (!pid) return "(not found)";
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const mib = (field: string) => `${(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) / 1024).toFixed(1)} MiB`;
  return `${mib("RssAnon")} own, ${mib("RssShmem")} of guest RAM mapped`;
}
