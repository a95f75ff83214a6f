/**
 * The crash matrix: kill -9 a CLI in the middle of exec, start and stop, kill the VMM
 * under its supervisor, and kill a supervisor mid-stop. After each, the next command sees a consistent
 * state: no orphan VMM or command, no box stuck in a transitional status, files kept.
 */
import { expect, test } from "bun:test";
import { cliCommand, qemuProcesses, REPO, runCli, supervisorPids, waitFor } from "../helpers/cli.ts";

interface Listed {
  box_id: string;
  name: string | null;
  status: string;
  exit_code: number | null;
  error_reason: string | null;
}

async function box(name: string): Promise<Listed> {
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Listed[];
  const found = listed.find((entry) => entry.name === name);
  if (!found) throw new Error(`no box ${name}`);
  return found;
}

const spawnCli = (args: string[]) => Bun.spawn(cliCommand(args), { cwd: REPO, env: process.env, stdout: "pipe", stderr: "pipe" });

test("a CLI killed mid-exec takes its command with it; the box runs on", async () => {
  expect((await runCli(["run", "-d", "--name", "victim", "--", "sleep", "3600"])).code).toBe(0);
  const exec = spawnCli(["exec", "victim", "--", "sh", "-c", "echo started; exec sleep 4242"]);
  const reader = exec.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("started\n");
  exec.kill("SIGKILL");
  await exec.exited;
  await waitFor(async () => !(await runCli(["exec", "victim", "--", "ps"])).stdout.includes("sleep 4242"), 15_000, "the orphaned command to be killed");
  expect(await box("victim")).toMatchObject({ status: "running" });
});

test("a stop whose CLI is killed still stops the box; a start whose CLI is killed still starts it", async () => {
  const stop = spawnCli(["stop", "victim"]);
  await waitFor(async () => (await box("victim")).status !== "running", 15_000, "the stop to begin");
  stop.kill("SIGKILL");
  await waitFor(async () => (await box("victim")).status === "stopped", 30_000, "the box to stop");
  const start = spawnCli(["start", "victim"]);
  const id = (await box("victim")).box_id;
  await waitFor(() => Bun.spawnSync(["pgrep", "-f", `__supervise ${id}`]).exitCode === 0, 15_000, "the supervisor to be spawned");
  start.kill("SIGKILL");
  await waitFor(async () => (await box("victim")).status === "running", 60_000, "the box to run");
  expect((await runCli(["exec", "victim", "--", "true"])).code).toBe(0);
});

test("a supervisor killed mid-stop leaves the box failed, not stopping, and the stop returns", async () => {
  const id = (await box("victim")).box_id;
  expect((await runCli(["exec", "-d", "victim", "--", "true"])).code).toBe(0);
  // The main command ignores SIGTERM, so the stop waits out its grace period.
  const stubborn = (
    await runCli(["run", "-d", "--name", "slowstop", "--", "sh", "-c", "trap '' TERM; touch /tmp/t; while true; do sleep 1; done"])
  ).stdout.trim();
  await waitFor(async () => (await runCli(["exec", "slowstop", "--", "test", "-e", "/tmp/t"])).code === 0, 20_000, "the trap");
  const stop = spawnCli(["stop", "-t", "30", "slowstop"]);
  await waitFor(async () => (await box("slowstop")).status === "stopping", 15_000, "the box to be stopping");
  const supervisor = Number(supervisorPids(stubborn)[0]);
  process.kill(supervisor, "SIGKILL");
  await waitFor(() => qemuProcesses(stubborn).length === 0, 15_000, "the VM to die with its supervisor");
  // The stop that was waiting sees the box down at once, not after its 30 s and the slack
  // (nothing else reads the box meanwhile: a reconciling read here would hide it).
  const ended = await Promise.race([stop.exited, Bun.sleep(10_000).then(() => "still waiting")]);
  stop.kill();
  expect(ended).toBe(0);
  expect(await box("slowstop")).toMatchObject({ status: "failed" });
  expect((await runCli(["rm", "slowstop"])).code).toBe(0);
  expect(qemuProcesses(id).length).toBeGreaterThan(0);
});

test("a VM that dies under its supervisor fails the box with the console tail; synced files are kept for a restart", async () => {
  expect((await runCli(["exec", "victim", "--", "sh", "-c", "echo precious > /root/keep.txt; sync"])).code).toBe(0);
  // QEMU alone (the watchdog's child): what a VMM crash looks like. The guest agent is the
  // VM's PID 1, which nothing inside may kill, and this kernel has no sysrq to panic it.
  const id = (await box("victim")).box_id;
  // The watchdog's command line names qemu too; QEMU's own starts with it.
  const qemu = Number(
    Bun.spawnSync(["pgrep", "-f", `^\\S*qemu-system\\S* .*${id}`])
      .stdout.toString()
      .trim()
      .split("\n")[0],
  );
  expect(qemu).toBeGreaterThan(0);
  process.kill(qemu, "SIGKILL");
  await waitFor(async () => (await box("victim")).status === "failed", 30_000, "the box to be failed");
  const failed = await box("victim");
  expect(failed.error_reason).toMatch(/console tail/);
  expect(qemuProcesses(id)).toEqual([]);
  expect((await runCli(["start", "victim"])).code).toBe(0);
  expect((await runCli(["exec", "victim", "--", "cat", "/root/keep.txt"])).stdout).toBe("precious\n");
  expect((await runCli(["rm", "-f", "victim"])).code).toBe(0);
});

test("create killed at any moment leaves either no box or a configured one that rm removes cleanly", async () => {
  const before = new Set((await runCli(["ls", "-a", "-q"])).stdout.split("\n").filter(Boolean));
  for (const delay of [0, 20, 40, 60, 80, 120, 200]) {
    const create = spawnCli(["create", "--", "true"]);
    await Bun.sleep(delay);
    create.kill("SIGKILL");
    await create.exited;
  }
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Listed[];
  const made = listed.filter((entry) => !before.has(entry.box_id));
  for (const entry of made) {
    expect(entry.status).toBe("configured");
    expect((await runCli(["rm", entry.box_id])).code).toBe(0);
  }
  // And a create that is left alone works after all that.
  const id = (await runCli(["create", "--", "true"])).stdout.trim();
  expect(id).toMatch(/^[0-9a-z]{26}$/);
  expect((await runCli(["rm", id])).code).toBe(0);
});

test("two starts of one box at once: one starts it, the other is told it is running or busy", async () => {
  const id = (await runCli(["create", "--name", "twice", "--", "sleep", "3600"])).stdout.trim();
  const [a, b] = await Promise.all([runCli(["start", id]), runCli(["start", id])]);
  const results = [a, b].sort((x, y) => x.code - y.code);
  expect(results[0]).toMatchObject({ code: 0, stdout: `${id}\n` });
  expect(results[1]?.code).toBe(1);
  expect(results[1]?.stderr).toMatch(new RegExp(`box ${id} is (busy|already running|running; only a configured)`));
  // Exactly one VM.
  expect(
    Bun.spawnSync(["pgrep", "-f", `__supervise ${id}`])
      .stdout.toString()
      .trim()
      .split("\n").length,
  ).toBe(1);
  expect((await runCli(["rm", "-f", id])).code).toBe(0);
});
