/**
 * Network benchmark (issue 15): a box's network as its users feel it, in one run.
 *
 * In one box (timed by netprobe, a static probe copied in, with the guest's clock):
 * TCP download throughput from a loopback server on the host, reached as
 * host.boxlite.internal (target ≥ 50 MB/s); TCP connection setup p50; DNS lookup p50
 * through the box's resolver (the host side answers from a resolver this script runs).
 * On the host: the network process's resident memory (target ≤ 15 MiB), and the median of
 * `run --rm -- true` with the network on against `--network disabled`, interleaved run by
 * run (target ratio ≤ 1.05).
 *
 *   bun scripts/bench/network.ts [--runs N]   (after bun scripts/build.ts: it runs dist/boxlite)
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDnsServer } from "../../test/fixtures/net/dns.ts";

const runsFlag = process.argv.indexOf("--runs");
const RUNS = runsFlag > 0 ? Number(process.argv[runsFlag + 1]) : 11;
const DOWNLOAD_BYTES = 200 * 1024 * 1024;
const SAMPLES = 200;
const root = join(import.meta.dir, "..", "..");
const binary = join(root, "dist", "boxlite");
const HOST_ALIAS = "192.168.127.254";

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

function check(proc: { exitCode: number | null; stderr: Uint8Array | Buffer; stdout: Uint8Array | Buffer }, what: string): string {
  if (proc.exitCode !== 0) throw new Error(`${what} failed (${proc.exitCode}): ${proc.stderr.toString()}`);
  return proc.stdout.toString();
}

const work = mkdtempSync(join(tmpdir(), "boxlite-bench-net-"));
const home = join(work, "home");
const env: Record<string, string | undefined> = { ...process.env, BOXLITE_HOME: home };
/** Runs boxlite without blocking: the host's server and resolver live in this process and must go on answering. */
async function boxlite(args: string[]): Promise<string> {
  const proc = Bun.spawn([binary, ...args], { env, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (exitCode !== 0) throw new Error(`boxlite ${args.join(" ")} failed (${exitCode}): ${stderr}`);
  return stdout;
}

async function timedRun(args: string[]): Promise<number> {
  const started = performance.now();
  const proc = Bun.spawn([binary, ...args], { env, stdout: "ignore", stderr: "pipe" });
  if ((await proc.exited) !== 0) throw new Error(`boxlite ${args.join(" ")}: ${await new Response(proc.stderr).text()}`);
  return performance.now() - started;
}

const probe = join(work, "netprobe");
check(
  Bun.spawnSync(["musl-gcc", "-std=c11", "-O2", "-static", "-o", probe, join(import.meta.dir, "netprobe", "netprobe.c")], { stdout: "pipe", stderr: "pipe" }),
  "building netprobe",
);

// The host's side: a server that sends DOWNLOAD_BYTES to each connection (and accepts the probe's bare connects), and a resolver.
const chunk = Buffer.alloc(1024 * 1024, 0x61);
const server = createServer((socket) => {
  socket.once("data", () => {
    socket.write(`HTTP/1.0 200 OK\r\nContent-Length: ${DOWNLOAD_BYTES}\r\n\r\n`);
    let sent = 0;
    const pump = () => {
      while (sent < DOWNLOAD_BYTES) {
        sent += chunk.length;
        if (!socket.write(chunk)) return void socket.once("drain", pump);
      }
      socket.end();
    };
    pump();
  });
  socket.on("error", () => socket.destroy());
});
await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const port = (server.address() as { port: number }).port;
const dns = await startDnsServer({ "bench.test": "10.231.255.2" });
env.BOXLITE_DNS = `127.0.0.1:${dns.port}`;

try {
  const box = (await boxlite(["run", "-d", "--name", "bench-net", "--", "sleep", "100000"])).trim();
  await boxlite(["cp", probe, "bench-net:/netprobe"]);
  const inBox = async (args: string) => (await boxlite(["exec", "bench-net", "--", "/netprobe", ...args.split(" ")])).trim();
  const field = (line: string, key: string) => Number(new RegExp(`${key}=([\\d.]+)`).exec(line)?.[1]);
  const downloads: number[] = [];
  for (let i = 0; i < 3; i++) downloads.push(field(await inBox(`download ${HOST_ALIAS} ${port} /big`), "mb_per_s"));
  const connect = await inBox(`connect ${HOST_ALIAS} ${port} ${SAMPLES}`);
  const lookups = await inBox(`dns 192.168.127.1 bench.test ${SAMPLES}`);
  const group = readFileSync(join(home, "boxes", box, "group.pid"), "utf8");
  // group.pid: "PID START_TIME NAME" per member; netd is the helper named "net".
  const netdPid = /^(\d+) \d+ net$/m.exec(group)?.[1];
  const rssKib = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${netdPid}/status`, "utf8"))?.[1]);
  await boxlite(["rm", "-f", "bench-net"]);

  // Interleaved, so both see the same machine load; the first of each warms the caches.
  const on: number[] = [];
  const off: number[] = [];
  for (let i = 0; i <= RUNS; i++) {
    const a = await timedRun(["run", "--rm", "--", "true"]);
    const b = await timedRun(["run", "--rm", "--network", "disabled", "--", "true"]);
    if (i === 0) continue;
    on.push(a);
    off.push(b);
  }

  const download = median(downloads);
  const ratio = median(on) / median(off);
  console.log(`download (host loopback -> box)  ${download.toFixed(1)} MB/s   (runs: ${downloads.map((d) => d.toFixed(1)).join(", ")}; target >= 50)`);
  console.log(`TCP connect                      p50 ${field(connect, "connect_p50_us")} us, p90 ${field(connect, "connect_p90_us")} us (${SAMPLES} connects)`);
  console.log(`DNS lookup via the box resolver  p50 ${field(lookups, "dns_p50_us")} us, p90 ${field(lookups, "dns_p90_us")} us (${SAMPLES} queries)`);
  console.log(`netd resident memory             ${(rssKib / 1024).toFixed(1)} MiB   (target <= 15)`);
  console.log(
    `run --rm -- true                 network on ${median(on).toFixed(0)} ms, disabled ${median(off).toFixed(0)} ms: ratio ${ratio.toFixed(3)} (target <= 1.05)`,
  );
} finally {
  Bun.spawnSync([binary, "rm", "-a", "-f"], { env, stdout: "ignore", stderr: "ignore" });
  server.close();
  dns.stop();
  rmSync(work, { recursive: true, force: true });
}
