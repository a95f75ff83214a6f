/**
 * suspend and resume on real VMs (QEMU): a suspended box's whole state is in its directory
 * and its VM is gone; resumed — by `resume` or `start`, from another process than the one
 * that suspended it — its main command and a detached command go on counting from where
 * they were (not from 0, and not advanced by the time it was suspended), with the host's
 * wall clock, also after a host reboot; a stop drops the saved state. Refusals (a box that
 * is not running, not suspended, has volumes) are clear conflicts. Crash safety: the owner killed mid-suspend or mid-resume (BOXLITE_CRASH_AT)
 * leaves a box that either resumes where it was or boots from its disk — never a half state.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { startApi, type TestApi } from "../helpers/api.ts";
import { qemuProcesses, runCli, waitFor } from "../helpers/cli.ts";

const runtime = Boxlite.open();
const HOME = process.env.BOXLITE_HOME ?? "";
let api: TestApi;

const collected: string[] = [];
const collect = { onStdout: (bytes: Uint8Array) => void collected.push(new TextDecoder().decode(bytes)), onStderr: () => {} };

/** The main command counts into /main and its output; a detached command counts into /detached. */
const MAIN = "i=0; while :; do i=$((i+1)); echo $i > /main; echo $i; sleep 0.2; done";
const DETACHED = "i=0; while :; do i=$((i+1)); echo $i > /detached; sleep 0.2; done";

/** A counter file in the box; read again while the loop is between truncating and writing it, or has not written it yet (a box just booted). */
async function counter(id: string, file: string): Promise<number> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const exec = await runtime.exec(id, { command: ["cat", file] }, collect);
    const code = (await exec.done).code;
    const text = collected.splice(0).join("").trim();
    if (code === 0 && text !== "") return Number(text);
    if (Date.now() > deadline) throw new Error(`${file} in box ${id} cannot be read (cat exited ${code})`);
  }
}

/** The guest kernel's boot id: the same after a resume, new after a boot. */
async function bootId(id: string): Promise<string> {
  const exec = await runtime.exec(id, { command: ["cat", "/proc/sys/kernel/random/boot_id"] }, collect);
  expect((await exec.done).code).toBe(0);
  return collected.splice(0).join("").trim();
}

/** The last number the main command printed, from the box's main.log. */
function lastLogged(id: string): number {
  const lines = readFileSync(join(HOME, "boxes", id, "logs", "main.log"), "utf8")
    .trim()
    .split("\n");
  return Number(lines.at(-1));
}

/** Boots a counting box named `name` (and its detached counter), with `env` for its supervisor. */
async function countingBox(name: string, env: Record<string, string> = {}): Promise<string> {
  const created = await runCli(["create", "--name", name, "--network", "disabled", "--", "sh", "-c", MAIN]);
  expect(created.code, created.stderr).toBe(0);
  const id = created.stdout.trim();
  const started = await runCli(["start", name], { env });
  expect(started.code, started.stderr).toBe(0);
  const detached = await runCli(["exec", "-d", name, "--", "sh", "-c", DETACHED]);
  expect(detached.code, detached.stderr).toBe(0);
  await waitFor(async () => (await counter(id, "/main")) > 3 && (await counter(id, "/detached")) > 3, 60_000, "the counters to start");
  return id;
}

function memoryDirs(id: string): string[] {
  return readdirSync(join(HOME, "boxes", id)).filter((name) => name.startsWith("memory"));
}

beforeAll(() => {
  api = startApi(runtime);
});

afterAll(async () => {
  await api.close();
});

describe("a suspended box", () => {
  let id = "";
  const NAME = "e2e-suspend";

  beforeAll(async () => {
    id = await countingBox(NAME);
  });
  afterAll(async () => {
    await runCli(["rm", "-f", NAME]);
  });

  test("has its whole state in its directory and no VM; resumed from another process, its commands count on from where they were", async () => {
    const mainBefore = await counter(id, "/main");
    const detachedBefore = await counter(id, "/detached");
    const boot = await bootId(id);
    const started = performance.now();
    const suspended = await runCli(["suspend", NAME]);
    const suspendMs = performance.now() - started;
    expect(suspended).toMatchObject({ code: 0, stdout: `${id}\n` });
    const box = await runtime.getBox(NAME);
    expect(box).toMatchObject({ status: "stopped", suspended: true, pid: null });
    expect(qemuProcesses(id)).toEqual([]);
    // Nothing of it runs: its supervisor is gone too.
    expect(Bun.spawnSync(["pgrep", "-f", `__supervise ${id}`]).stdout.toString()).toBe("");
    const manifest = JSON.parse(readFileSync(join(HOME, "boxes", id, "memory", "manifest.json"), "utf8"));
    expect(manifest.state_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(manifest.main.stream).toBeGreaterThan(0);
    const stateBytes = manifest.state_bytes as number;
    expect((await runCli(["ls", "-a"])).stdout).toContain("Stopped (suspended)");
    const inspected = JSON.parse((await runCli(["inspect", NAME])).stdout);
    expect(inspected[0].State).toMatchObject({ Status: "stopped", Suspended: true });

    // Time passes while it is suspended: nothing in it may count it.
    await Bun.sleep(3_000);
    const resumeStart = performance.now();
    const resumed = await runCli(["resume", NAME]);
    const resumeMs = performance.now() - resumeStart;
    expect(resumed).toMatchObject({ code: 0, stdout: `${id}\n` });
    expect(await runtime.getBox(NAME)).toMatchObject({ status: "running" });
    expect((await runtime.getBox(NAME)).suspended).toBeUndefined();
    expect(memoryDirs(id)).toEqual([]);
    expect(await bootId(id)).toBe(boot);
    const mainAfter = await counter(id, "/main");
    const detachedAfter = await counter(id, "/detached");
    // Where they were (each counts 5 a second while the VM runs; 3 s suspended would be 15).
    expect(mainAfter).toBeGreaterThanOrEqual(mainBefore);
    expect(mainAfter - mainBefore).toBeLessThan(15);
    expect(detachedAfter).toBeGreaterThanOrEqual(detachedBefore);
    expect(detachedAfter - detachedBefore).toBeLessThan(15);
    // And on: the main command's output reaches its log through the owner that adopted it.
    await waitFor(async () => (await counter(id, "/main")) > mainAfter + 2, 30_000, "the main counter to go on");
    await waitFor(async () => (await counter(id, "/detached")) > detachedAfter + 2, 30_000, "the detached counter to go on");
    await waitFor(() => lastLogged(id) > mainAfter, 30_000, "the main command's output in main.log");
    // And a client can attach to it: the adopted command is the box's main command.
    const heard: string[] = [];
    const attached = await runtime.attachMain(id, { onStdout: (bytes) => void heard.push(new TextDecoder().decode(bytes)), onStderr: () => {} });
    expect(attached.attached).toMatchObject({ state: "running" });
    await waitFor(
      () =>
        heard
          .join("")
          .split("\n")
          .some((line) => Number(line) > mainAfter),
      30_000,
      "output through the attachment",
    );
    attached.close();
    console.log(`suspend ${Math.round(suspendMs)} ms, resume ${Math.round(resumeMs)} ms, state ${(stateBytes / 1e6).toFixed(1)} MB`);
  });

  test("wakes with the host's wall clock", async () => {
    const exec = await runtime.exec(id, { command: ["date", "+%s"] }, collect);
    expect((await exec.done).code).toBe(0);
    const guest = Number(collected.splice(0).join("").trim());
    expect(Math.abs(guest - Date.now() / 1000)).toBeLessThan(5);
  });

  test("is resumed by start too, and by the REST routes (which answer the Box with suspended)", async () => {
    const before = await counter(id, "/main");
    const suspended = await fetch(`${api.httpBase}/boxes/${id}/suspend`, { method: "POST" });
    expect(suspended.status).toBe(200);
    expect(await suspended.json()).toMatchObject({ box_id: id, status: "stopped", suspended: true });
    expect((await runCli(["start", NAME])).code).toBe(0);
    expect(await counter(id, "/main")).toBeGreaterThanOrEqual(before);
    expect((await counter(id, "/main")) - before).toBeLessThan(15);
    // The CLI against a server, of a box a user paused: suspended all the same.
    expect((await runCli(["pause", NAME])).code).toBe(0);
    const remote = await runCli(["--url", api.httpBase.replace(/\/v1$/, ""), "suspend", NAME]);
    expect(remote).toMatchObject({ code: 0, stdout: `${id}\n` });
    expect(await runtime.getBox(NAME)).toMatchObject({ status: "stopped", suspended: true });
    const resumed = await fetch(`${api.httpBase}/boxes/${id}/resume`, { method: "POST" });
    expect(resumed.status).toBe(200);
    expect(await resumed.json()).toMatchObject({ box_id: id, status: "running", suspended: false });
  });

  test("is resumed by an exec too, whatever its command: a resume runs nothing again", async () => {
    const boot = await bootId(id);
    const before = await counter(id, "/main");
    expect((await runCli(["suspend", NAME])).code).toBe(0);
    const exec = await runCli(["exec", NAME, "--", "cat", "/main"]);
    expect(exec.code, exec.stderr).toBe(0);
    // The counter's shell truncates /main before it writes the next value: a read between the
    // two finds it empty (seen once in CI), and is taken again. It never holds 0.
    const after = exec.stdout.trim() === "" ? await counter(id, "/main") : Number(exec.stdout.trim());
    expect(after).toBeGreaterThanOrEqual(before);
    expect(await runtime.getBox(NAME)).toMatchObject({ status: "running" });
    expect(await bootId(id)).toBe(boot);
  });

  test("refuses what does not fit: resume of a running box, suspend of a stopped one, resume of one not suspended", async () => {
    const running = await runCli(["resume", NAME]);
    expect(running.code).toBe(1);
    expect(running.stderr).toContain(`box ${id} is running, not suspended`);
    const conflict = await fetch(`${api.httpBase}/boxes/${id}/resume`, { method: "POST" });
    expect(conflict.status).toBe(409);

    expect((await runCli(["stop", "-t", "0", NAME])).code).toBe(0);
    const stopped = await runCli(["suspend", NAME]);
    expect(stopped.code).toBe(1);
    expect(stopped.stderr).toContain(`box ${id} is stopped, not running: only a running or paused box can be suspended`);
    const notSuspended = await runCli(["resume", NAME]);
    expect(notSuspended.code).toBe(1);
    expect(notSuspended.stderr).toContain("not suspended (it has no saved state); start it with 'boxlite start e2e-suspend'");
    expect((await runCli(["suspend", "no-such-box"])).code).toBe(1);
    expect((await runCli(["suspend"])).code).toBe(2);
  });

  test("stop of a suspended box drops its saved state: its next start boots it", async () => {
    expect((await runCli(["start", NAME])).code).toBe(0);
    await waitFor(async () => (await counter(id, "/main")) > 0, 60_000, "the counter to start");
    const boot = await bootId(id);
    expect((await runCli(["suspend", NAME])).code).toBe(0);
    expect((await runCli(["stop", NAME])).code).toBe(0);
    expect((await runtime.getBox(NAME)).suspended).toBeUndefined();
    expect(memoryDirs(id)).toEqual([]);
    expect((await runCli(["start", NAME])).code).toBe(0);
    expect(await bootId(id)).not.toBe(boot);
  });
});

test("boxlite info says boxes can be suspended under QEMU, and what limits it", async () => {
  const info = JSON.parse((await runCli(["info", "--json"])).stdout);
  expect(info.vmm.suspend).toEqual({ enabled: true, reason: expect.stringContaining("not a box with volumes") });
  expect((await runCli(["info"])).stdout).toMatch(/^Suspend: +on: /m);
});

test("a box with volumes is refused, saying why, and goes on running", async () => {
  const dir = join(HOME, "suspend-volume");
  await Bun.write(join(dir, "f"), "x");
  const run = await runCli(["run", "-d", "--name", "e2e-suspend-vol", "--network", "disabled", "-v", `${dir}:/data`, "--", "sleep", "3600"]);
  expect(run.code, run.stderr).toBe(0);
  const id = run.stdout.trim();
  try {
    const refused = await runCli(["suspend", id]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("a box with volumes cannot be suspended: QEMU cannot save a vhost-user-fs device");
    expect((await runtime.getBox(id)).status).toBe("running");
    const exec = await runtime.exec(id, { command: ["cat", "/data/f"] }, collect);
    expect((await exec.done).code).toBe(0);
    expect(collected.splice(0).join("")).toBe("x");
  } finally {
    await runCli(["rm", "-f", id]);
  }
});

describe("crash safety (the owner SIGKILLed at each step)", () => {
  test("mid-suspend, before the state is in place: the box is failed, nothing saved is used, no VM is left, and it boots from its disk", async () => {
    const id = await countingBox("e2e-suspend-crash1", { BOXLITE_CRASH_AT: "suspend-state-written" });
    const boot = await bootId(id);
    expect((await runCli(["suspend", id])).code).not.toBe(0);
    await waitFor(() => qemuProcesses(id).length === 0, 30_000, "the VM to end with its owner");
    expect(await runtime.getBox(id)).toMatchObject({ status: "failed" });
    expect((await runtime.getBox(id)).suspended).toBeUndefined();
    expect((await runCli(["start", id])).code).toBe(0);
    expect(memoryDirs(id)).toEqual([]);
    // Booted, not resumed.
    expect(await bootId(id)).not.toBe(boot);
    await runCli(["rm", "-f", id]);
  });

  test("after the state is in place but before the record says so: the box resumes where it was", async () => {
    const id = await countingBox("e2e-suspend-crash2", { BOXLITE_CRASH_AT: "suspend-saved" });
    const before = await counter(id, "/main");
    const boot = await bootId(id);
    await runCli(["suspend", id]);
    await waitFor(() => qemuProcesses(id).length === 0, 30_000, "the VM to end with its owner");
    expect(await runtime.getBox(id)).toMatchObject({ status: "failed", suspended: true });
    expect((await runCli(["resume", id])).code).toBe(0);
    expect(await bootId(id)).toBe(boot);
    expect(await counter(id, "/main")).toBeGreaterThanOrEqual(before);
    await runCli(["rm", "-f", id]);
  });

  test("mid-resume: before the VM runs the state is kept and resumes later; once it ran the state is gone and the box boots", async () => {
    const id = await countingBox("e2e-suspend-crash3");
    const before = await counter(id, "/main");
    const boot = await bootId(id);
    expect((await runCli(["suspend", id])).code).toBe(0);

    expect((await runCli(["resume", id], { env: { BOXLITE_CRASH_AT: "resume-loaded" } })).code).not.toBe(0);
    await waitFor(() => qemuProcesses(id).length === 0, 30_000, "the VM to end with its owner");
    expect((await runtime.getBox(id)).suspended).toBe(true);
    expect((await runCli(["resume", id])).code).toBe(0);
    expect(await bootId(id)).toBe(boot);
    expect(await counter(id, "/main")).toBeGreaterThanOrEqual(before);

    expect((await runCli(["suspend", id])).code).toBe(0);
    expect((await runCli(["resume", id], { env: { BOXLITE_CRASH_AT: "resume-consumed" } })).code).not.toBe(0);
    await waitFor(() => qemuProcesses(id).length === 0, 30_000, "the VM to end with its owner");
    expect((await runtime.getBox(id)).suspended).toBeUndefined();
    expect(existsSync(join(HOME, "boxes", id, "memory"))).toBe(false);
    const refused = await runCli(["resume", id]);
    expect(refused.stderr).toContain("not suspended");
    expect((await runCli(["start", id])).code).toBe(0);
    expect(await bootId(id)).not.toBe(boot);
    await runCli(["rm", "-f", id]);
  });
});

test("a snapshot restore of a suspended box discards its saved state: the box boots from the restored disk", async () => {
  const id = await countingBox("e2e-suspend-restore");
  expect((await runCli(["snapshot", "create", id, "before"])).code).toBe(0);
  const boot = await bootId(id);
  expect((await runCli(["suspend", id])).code).toBe(0);
  expect((await runCli(["snapshot", "restore", id, "before"])).code).toBe(0);
  expect((await runtime.getBox(id)).suspended).toBeUndefined();
  expect(memoryDirs(id)).toEqual([]);
  expect((await runCli(["start", id])).code).toBe(0);
  expect(await bootId(id)).not.toBe(boot);
  await runCli(["rm", "-f", id]);
});

test("a saved state that fails its checksum is not resumed: the box is failed with why, the state discarded, and a start boots it", async () => {
  const id = await countingBox("e2e-suspend-damaged");
  const boot = await bootId(id);
  expect((await runCli(["suspend", id])).code).toBe(0);
  const state = join(HOME, "boxes", id, "memory", "state");
  const bytes = readFileSync(state);
  const middle = bytes.length >> 1;
  bytes[middle] = (bytes[middle] ?? 0) ^ 0xff;
  await Bun.write(state, bytes);
  const resumed = await runCli(["resume", id]);
  expect(resumed.code).toBe(1);
  const box = await runtime.getBox(id);
  expect(box.status).toBe("failed");
  expect(box.error_reason).toContain("could not be resumed from its saved state, which is discarded");
  expect(box.error_reason).toContain("does not match its checksum");
  expect(memoryDirs(id)).toEqual([]);
  expect((await runCli(["start", id])).code).toBe(0);
  expect(await bootId(id)).not.toBe(boot);
  await runCli(["rm", "-f", id]);
});

test("a box a foreground run owns can be suspended: the run ends saying so, and resume brings the box back in the background", async () => {
  const NAME = "e2e-suspend-fg";
  const run = runCli(["run", "--name", NAME, "--network", "disabled", "--", "sh", "-c", MAIN]);
  await waitFor(async () => (await runtime.listBoxes({ all: true })).some((box) => box.name === NAME && box.status === "running"), 60_000, "the box to run");
  const id = (await runtime.getBox(NAME)).box_id;
  await waitFor(async () => (await counter(id, "/main")) > 3, 60_000, "the counter to start");
  const before = await counter(id, "/main");
  expect((await runCli(["suspend", NAME])).code).toBe(0);
  const ended = await run;
  expect(ended.code).toBe(125);
  expect(ended.stderr).toContain(`box ${id} was suspended while its command ran; 'boxlite resume ${id}' brings it back`);
  expect((await runCli(["resume", NAME])).code).toBe(0);
  expect(await counter(id, "/main")).toBeGreaterThanOrEqual(before);
  await waitFor(() => lastLogged(id) > before, 30_000, "the main command's output in main.log");
  await runCli(["rm", "-f", NAME]);
});

test("a suspended box outlives a host reboot (the home recovered as after one) and resumes where it was", async () => {
  const id = await countingBox("e2e-suspend-reboot");
  const before = await counter(id, "/main");
  const boot = await bootId(id);
  expect((await runCli(["suspend", id])).code).toBe(0);
  // The database says the host booted differently last time: the next open recovers the home.
  const database = new Database(join(HOME, "db", "boxlite.db"));
  database.run("UPDATE alive SET boot_id = 'another-boot'");
  database.close();
  expect((await runCli(["ls", "-a"])).stdout).toMatch(new RegExp(`${id.slice(0, 12)}.*Stopped \\(suspended\\)`));
  expect((await runCli(["resume", id])).code).toBe(0);
  expect(await bootId(id)).toBe(boot);
  expect(await counter(id, "/main")).toBeGreaterThanOrEqual(before);
  await runCli(["rm", "-f", id]);
});
