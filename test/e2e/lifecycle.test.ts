/**
 * Boxes that live: run -d, create/start/stop/restart, exec (concurrent, detached, with the
 * box's settings), files kept across stop/start, docker's main-command semantics, and what
 * is left after a supervisor or a VMM is killed. One detached box is shared by the tests
 * that only exec into it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cliCommand, qemuProcesses, REPO, runCli, supervisorPids, waitFor } from "../helpers/cli.ts";

interface Listed {
  box_id: string;
  name: string | null;
  status: string;
  exit_code: number | null;
  pid: number | null;
  error_reason: string | null;
}

async function box(name: string): Promise<Listed> {
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Listed[];
  const found = listed.find((entry) => entry.name === name || entry.box_id === name);
  if (!found) throw new Error(`no box ${name} in ${JSON.stringify(listed)}`);
  return found;
}

let shared: string;

beforeAll(async () => {
  const started = await runCli(["run", "-d", "--name", "shared", "-e", "FROM_RUN=yes", "-w", "/srv", "--", "sleep", "3600"]);
  expect(started.code).toBe(0);
  shared = started.stdout.trim();
  expect(shared).toMatch(/^[0-9a-z]{26}$/);
});

afterAll(async () => {
  await runCli(["rm", "-f", "shared"]);
});

test("run -d returns once the box runs; it keeps running after the CLI exited", async () => {
  expect(await box("shared")).toMatchObject({ box_id: shared, status: "running" });
  expect(qemuProcesses(shared).length).toBeGreaterThan(0);
});

test("exec gets the box's env and workdir, its own -e/-w/-u, and exits with the command's code", async () => {
  const result = await runCli(["exec", "shared", "--", "sh", "-c", "echo $FROM_RUN $FROM_EXEC; pwd; id -u; exit 7"]);
  expect(result).toMatchObject({ code: 7, stdout: "yes\n/srv\n0\n" });
  const custom = await runCli([
    "exec",
    "-e",
    "FROM_EXEC=also",
    "-w",
    "/tmp",
    "-u",
    "65534",
    "shared",
    "--",
    "sh",
    "-c",
    "echo $FROM_RUN $FROM_EXEC; pwd; id -u",
  ]);
  expect(custom).toMatchObject({ code: 0, stdout: "yes also\n/tmp\n65534\n" });
  const missing = await runCli(["exec", "shared", "--", "no-such-command"]);
  expect(missing.code).toBe(127);
  expect(missing.stderr).toContain('exec "no-such-command"');
});

test("8 concurrent execs each get their own output, byte-exact, and their own exit code", async () => {
  const runs = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      runCli(["exec", "shared", "--", "sh", "-c", `i=0; while [ $i -lt 2000 ]; do echo "exec${i} line $i"; i=$((i+1)); done; exit ${i}`]),
    ),
  );
  runs.forEach((run, i) => {
    const expected = Array.from({ length: 2000 }, (_, line) => `exec${i} line ${line}\n`).join("");
    expect(run.code).toBe(i);
    expect(run.stdout === expected).toBe(true);
  });
});

test("stdin reaches an exec, and a 1 MiB round trip is byte-exact", async () => {
  const input = new Uint8Array(1024 * 1024).map((_, i) => (i * 31) % 256);
  const result = await runCli(["exec", "-i", "shared", "--", "cat"], { stdin: input });
  expect(result.code).toBe(0);
  expect(Buffer.compare(Buffer.from(result.stdoutBytes), Buffer.from(input))).toBe(0);
});

test("exec -d leaves the command running after the CLI returns", async () => {
  const detached = await runCli(["exec", "-d", "shared", "--", "sh", "-c", "sleep 1; echo done > /tmp/detached.txt"]);
  expect(detached).toMatchObject({ code: 0, stdout: "" });
  await waitFor(async () => (await runCli(["exec", "shared", "--", "cat", "/tmp/detached.txt"])).stdout === "done\n", 20_000, "the detached command to finish");
});

test("create makes a configured box; start runs it; files survive stop and start; the main command runs again", async () => {
  const created = await runCli(["create", "--name", "keeper", "--", "sh", "-c", "echo started >> /root/starts; sleep 3600"]);
  expect(created.code).toBe(0);
  expect(await box("keeper")).toMatchObject({ status: "configured", pid: null });
  expect((await runCli(["start", "keeper"])).code).toBe(0);
  expect((await runCli(["exec", "keeper", "--", "sh", "-c", "echo kept > /root/file.txt"])).code).toBe(0);

  const stopped = await runCli(["stop", "-t", "5", "keeper"]);
  expect(stopped.code).toBe(0);
  const after = await box("keeper");
  expect(after).toMatchObject({ status: "stopped", pid: null, exit_code: 143 });
  expect(qemuProcesses(after.box_id)).toEqual([]);
  expect((await runCli(["stop", "keeper"])).code).toBe(0); // stopping a stopped box is a no-op

  // Its main command is the user's: exec must not boot it, which would run that command again.
  const refused = await runCli(["exec", "keeper", "--", "true"]);
  expect(refused.code).toBe(125);
  expect(refused.stderr).toMatch(
    /is stopped: exec needs it running, and booting it would run its main command again; start it with 'boxlite start keeper' first/,
  );
  expect(await box("keeper")).toMatchObject({ status: "stopped" });

  expect((await runCli(["restart", "keeper"])).code).toBe(0); // restart of a stopped box starts it
  const files = await runCli(["exec", "keeper", "--", "sh", "-c", "cat /root/file.txt /root/starts"]);
  expect(files.stdout).toBe("kept\nstarted\nstarted\n");
  // Start is idempotent: a running box is left as it is (same VM), and its id printed.
  const running = await box("keeper");
  const again = await runCli(["start", "keeper"]);
  expect(again).toMatchObject({ code: 0, stdout: `${running.box_id}\n` });
  expect((await box("keeper")).pid).toBe(running.pid);
  expect((await runCli(["rm", "-f", "keeper"])).code).toBe(0);
});

test("the box stops when its main command exits, with its exit code and output in logs/main.log", async () => {
  const started = await runCli(["run", "-d", "--name", "short", "--", "sh", "-c", "echo bye; exit 4"]);
  expect(started.code).toBe(0);
  const id = started.stdout.trim();
  await waitFor(async () => (await box("short")).status === "stopped", 30_000, "the box to stop by itself");
  expect(await box("short")).toMatchObject({ exit_code: 4, pid: null });
  expect(readFileSync(join(process.env.BOXLITE_HOME as string, "boxes", id, "logs", "main.log"), "utf8")).toContain("bye\n");
  expect((await runCli(["rm", "short"])).code).toBe(0);
});

test("stop from another process ends a foreground run, which exits with the command's code", async () => {
  const proc = Bun.spawn(cliCommand(["run", "--name", "fg", "--", "sh", "-c", "echo ready; sleep 3600"]), { cwd: REPO, env: process.env, stdout: "pipe" });
  const reader = proc.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("ready\n");
  expect((await runCli(["stop", "fg"])).code).toBe(0);
  expect(await proc.exited).toBe(143);
  expect(await box("fg")).toMatchObject({ status: "stopped", exit_code: 143 });
  expect((await runCli(["rm", "fg"])).code).toBe(0);
});

test("a killed supervisor takes its VM with it and the box is failed, not left running", async () => {
  const id = (await runCli(["run", "-d", "--name", "doomed", "--", "sleep", "3600"])).stdout.trim();
  const supervisor = supervisorPids(id)[0];
  expect(supervisor).toBeGreaterThan(0);
  process.kill(supervisor as number, "SIGKILL");
  await waitFor(() => qemuProcesses(id).length === 0, 15_000, "the VM to die with its supervisor");
  expect(await box("doomed")).toMatchObject({ status: "failed", pid: null, error_reason: expect.stringContaining("its boxlite process died") });
  expect((await runCli(["rm", "doomed"])).code).toBe(0);
});

test("a killed VMM fails the box with the reason, and its supervisor exits", async () => {
  const id = (await runCli(["run", "-d", "--name", "crashy", "--", "sleep", "3600"])).stdout.trim();
  const vmm = (await box("crashy")).pid as number;
  process.kill(-vmm, "SIGKILL");
  await waitFor(async () => (await box("crashy")).status === "failed", 20_000, "the box to be failed");
  await waitFor(() => Bun.spawnSync(["pgrep", "-f", `__supervise ${id}`]).exitCode !== 0, 10_000, "the supervisor to exit");
  expect((await box("crashy")).error_reason).toBeTruthy();
  expect((await runCli(["rm", "crashy"])).code).toBe(0);
});

test("bad requests get clear errors: unknown box, exec without a command, create with -t", async () => {
  const unknown = await runCli(["stop", "no-such-box"]);
  expect(unknown).toMatchObject({ code: 1 });
  expect(unknown.stderr).toContain('no box "no-such-box"');
  expect((await runCli(["exec", "shared"])).stderr).toMatch(/exec needs a command/);
  expect((await runCli(["create", "-t", "--", "sh"])).code).toBe(2);
  expect((await runCli(["run", "-d", "-i", "--", "sh"])).code).toBe(125);
});

test("stop -t: a main command that ignores SIGTERM is killed after the grace period (exit 137)", async () => {
  expect((await runCli(["run", "-d", "--name", "stubborn", "--", "sh", "-c", "trap '' TERM; touch /tmp/trapped; while true; do sleep 1; done"])).code).toBe(0);
  // A SIGTERM before the trap is set would simply end it.
  await waitFor(async () => (await runCli(["exec", "stubborn", "--", "test", "-e", "/tmp/trapped"])).code === 0, 20_000, "the trap to be set");
  const started = performance.now();
  expect((await runCli(["stop", "-t", "1", "stubborn"])).code).toBe(0);
  expect(performance.now() - started).toBeLessThan(15_000);
  expect(await box("stubborn")).toMatchObject({ status: "stopped", exit_code: 137 });
  expect((await runCli(["rm", "stubborn"])).code).toBe(0);
});

test("garbage on the box socket costs its sender the connection, never the box", async () => {
  const socketPath = join(process.env.BOXLITE_HOME as string, "boxes", shared, "sockets", "box.sock");
  const hostile = [
    new Uint8Array(64).fill(0xff), // a frame header claiming 4 GiB
    Buffer.concat([
      Buffer.from([0, 0, 0, 13, 0, 0, 0, 0, 1, 0, 0, 0]),
      Buffer.from('{"version":1}'),
      Buffer.from([0, 0, 0, 40, 0, 0, 0, 1, 2, 0, 0, 0]),
      Buffer.from('{"argv":["a\\u0000b"],"env":[],"cwd":"/"}'),
    ]),
  ];
  for (const bytes of hostile) {
    const closed = Promise.withResolvers<void>();
    const socket = await Bun.connect({ unix: socketPath, socket: { data() {}, close: () => closed.resolve(), error: () => closed.resolve() } });
    socket.write(bytes);
    await closed.promise;
  }
  expect(await runCli(["exec", "shared", "--", "echo", "still fine"])).toMatchObject({ code: 0, stdout: "still fine\n" });
});

test("stats reports the VMM's CPU and memory against the box's limits, and a busy box shows it", async () => {
  const idle = await runCli(["stats", "--json", "shared"]);
  expect(idle.code).toBe(0);
  const [sample] = JSON.parse(idle.stdout) as Array<{
    box_id: string;
    cpu_percent: number;
    memory_bytes: number;
    memory_limit_bytes: number;
    cpus: number;
    uptime_seconds: number;
  }>;
  expect(sample).toMatchObject({ box_id: shared, memory_limit_bytes: 512 * 1024 * 1024, cpus: 1 });
  expect(sample?.memory_bytes).toBeGreaterThan(16 * 1024 * 1024);
  expect(sample?.uptime_seconds).toBeGreaterThanOrEqual(0);
  expect((await runCli(["exec", "-d", "shared", "--", "sh", "-c", "i=0; while [ $i -lt 100000000 ]; do i=$((i+1)); done # busyloop"])).code).toBe(0);
  const busy = JSON.parse((await runCli(["stats", "--json", "shared"])).stdout) as Array<{ cpu_percent: number }>;
  expect(busy[0]?.cpu_percent).toBeGreaterThan(30);
  // The only sh in the box is the busy loop (the main command is sleep).
  expect((await runCli(["exec", "shared", "--", "killall", "sh"])).code).toBe(0);
  const table = await runCli(["stats", "shared"]);
  expect(table.stdout).toMatch(
    /^ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+NET I\/O\s+CPUS\s+UPTIME\n\w{12}\s+shared\s+[\d.]+%\s+[\d.]+ MB \/ 536\.9 MB\s+[\d.]+ k?B \/ [\d.]+ k?B\s+1\s+\d+s\n$/,
  );
  expect((await runCli(["stats", "no-such-box"])).code).toBe(1);
});

test("exec --timeout stops a command that runs too long and says so (exit 124)", async () => {
  const started = performance.now();
  const result = await runCli(["exec", "--timeout", "1", "shared", "--", "sh", "-c", "trap '' TERM; sleep 30"]);
  expect(result.code).toBe(124);
  expect(result.stderr).toContain("timed out after 1 s");
  // SIGTERM was ignored, so SIGKILL after the grace ended it: well before the 30 s.
  expect(performance.now() - started).toBeLessThan(15_000);
  expect((await runCli(["exec", "--timeout", "5", "shared", "--", "true"])).code).toBe(0);
});

test("a full disk inside the box is the command's clear error, and the box recovers once space is freed", async () => {
  const full = await runCli(["exec", "shared", "--", "sh", "-c", "dd if=/dev/zero of=/root/fill bs=1M; echo dd=$?"]);
  expect(full.stderr).toContain("No space left on device");
  expect(full.stdout).toMatch(/dd=1\n$/);
  expect((await runCli(["exec", "shared", "--", "sh", "-c", "rm /root/fill && echo ok > /root/after.txt && cat /root/after.txt"])).stdout).toBe("ok\n");
});
