/**
 * The soak (docs/security.md, "Hours of load"): for a given time, clients run boxes through
 * their whole life concurrently — half with the CLI on a home, half through `boxlite serve`
 * on it — while a chaos loop SIGKILLs random owners, VMMs and clients. Then the audit: every
 * running box answers with its own data, and once all are removed nothing is left and the
 * database is whole. Exits 1 when an invariant broke (failed operations are expected: the
 * chaos makes them; they are counted by cause).
 *
 *   bun scripts/soak.ts [--minutes 30] [--clients 4] [--chaos-ms 4000] [--dist] [--report FILE]
 *
 * `--dist` soaks the built executable (dist/boxlite) instead of the source.
 *
 * The short variant runs in the test suite (test/e2e/soak.test.ts).
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { type Audit, audit, boxCgroups } from "./soak/audit.ts";
import { processesWith, runChaos } from "./soak/chaos.ts";
import { boxliteCommand, Cli } from "./soak/cli.ts";
import { newTally, runClient, type Tally } from "./soak/clients.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string", default: "30" },
    clients: { type: "string", default: "4" },
    "chaos-ms": { type: "string", default: "4000" },
    report: { type: "string" },
    dist: { type: "boolean", default: false },
  },
});
const minutes = Number(values.minutes);
const clientCount = Number(values.clients);
const chaosMs = Number(values["chaos-ms"]);
if (!(minutes > 0 && clientCount >= 1 && chaosMs > 0)) throw new Error("--minutes, --clients and --chaos-ms take positive numbers");

function rssMib(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** `boxlite serve` on the soak's home, its log in `logPath` (kept with the work directory when an invariant broke). */
async function startServe(command: string[], env: Record<string, string>, logPath: string): Promise<{ proc: Bun.Subprocess; url: string }> {
  const proc = Bun.spawn([...command, "serve", "--port", "0"], {
    env: { ...process.env, ...env },
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(logPath),
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const log = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
    const url = /url="(http:\/\/127\.0\.0\.1:\d+)"/.exec(log)?.[1];
    if (url) return { proc, url };
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`serve did not listen: ${log}`);
    await Bun.sleep(50);
  }
}

function report(
  tally: Tally,
  killed: Map<string, number>,
  peaks: { serve: number; total: number },
  fds: { start: number; end: number },
  result: Audit,
  seconds: number,
): string {
  const ops = [...tally.ops.values()].reduce((sum, n) => sum + n, 0);
  const failed = [...tally.failures.values()].reduce((sum, n) => sum + n, 0);
  const lines = [
    `soak: ${(seconds / 60).toFixed(1)} min, ${clientCount} clients (${Math.ceil(clientCount / 2)} CLI on the home, ${Math.floor(clientCount / 2)} through serve), a kill every ~${chaosMs / 1000} s`,
    `operations: ${ops} (${[...tally.ops].map(([op, n]) => `${op} ${n}`).join(", ")}), boxes ${tally.names.size}`,
    `killed: ${[...killed].map(([what, n]) => `${what} ${n}`).join(", ") || "nothing"}`,
    `failed operations: ${failed}`,
    ...[...tally.failures].sort((a, b) => b[1] - a[1]).map(([why, n]) => `  ${n} × ${why}\n      e.g. ${tally.examples.get(why) ?? ""}`),
    `peak RSS: serve ${peaks.serve.toFixed(0)} MiB; all of the soak's processes ${peaks.total.toFixed(0)} MiB`,
    `serve's open fds: ${fds.start} at the start, ${fds.end} at the end`,
    `survivors: ${result.survivors} running at the end, ${result.unanswered.length} did not answer with their own data`,
    ...result.unanswered.map((line) => `  ${line}`),
    `data crossings (a box reading another's data, or losing its own): ${tally.crossings.length}`,
    ...tally.crossings.map((line) => `  ${line}`),
    `leaks: ${result.leaks.length}`,
    ...result.leaks.map((line) => `  ${line}`),
    `PRAGMA integrity_check: ${result.integrity}`,
  ];
  return `${lines.join("\n")}\n`;
}

const work = mkdtempSync(join(tmpdir(), "boxlite-soak-"));
const home = join(work, "home");
const env = { BOXLITE_HOME: home };
const cgroupsBefore = boxCgroups();
const started = Date.now();
const deadline = started + minutes * 60_000;
const command = boxliteCommand(values.dist === true);
const serve = await startServe(command, env, join(work, "serve.log"));
const fdStart = fdCount(serve.proc.pid);
const local = new Cli(command, env);
const remote = new Cli(command, env, serve.url);
const tally = newTally();
const peaks = { serve: 0, total: 0 };
const sampler = setInterval(() => {
  peaks.serve = Math.max(peaks.serve, rssMib(serve.proc.pid));
  peaks.total = Math.max(
    peaks.total,
    processesWith(home).reduce((sum, pid) => sum + rssMib(pid), 0),
  );
}, 1000);
const clientsDone = Promise.withResolvers<void>();
const chaos = runChaos(home, [local, remote], chaosMs, clientsDone.promise);
await Promise.all(
  Array.from({ length: clientCount }, (_, i) =>
    runClient({ cli: i % 2 === 0 ? local : remote, label: `c${i}`, deadline, work, tally, keep: (n) => n % 4 === 0, maxKept: 3 }),
  ),
);
clientsDone.resolve();
const killed = await chaos;
clearInterval(sampler);
const result = await audit(local, home, serve.proc.pid, cgroupsBefore);
const fdEnd = fdCount(serve.proc.pid);
serve.proc.kill();
await serve.proc.exited;
const text = report(tally, killed, peaks, { start: fdStart, end: fdEnd }, result, (Date.now() - started) / 1000);
process.stdout.write(text);
if (values.report) writeFileSync(values.report, text);
const broken = result.unanswered.length > 0 || tally.crossings.length > 0 || result.leaks.length > 0 || result.integrity !== "ok" || fdEnd > fdStart + 16;
if (!broken) rmSync(work, { recursive: true, force: true });
else process.stdout.write(`kept ${work} for a look (serve's log: serve.log)\n`);
process.exit(broken ? 1 : 0);
