/**
 * pause and unpause on real VMs (QEMU): a paused box's VM stops where it is — a counter
 * in it stands still, its VMM lives on, exec and cp are refused saying to unpause — and
 * goes on after unpause; the library, the CLI (against the home and with --url) and the
 * REST routes answer alike, conflicts included. A paused box stops and is removed with
 * nothing left running, and one whose owner dies is failed, not left paused. One box is
 * shared (booted by `run -d`, and by `start` again after its stop, for the owner's death);
 * `rm -f` removes a box of its own.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { startApi, type TestApi } from "../helpers/api.ts";
import { qemuProcesses, runCli, supervisorPids, waitFor } from "../helpers/cli.ts";

const NAME = "e2e-pause";
const runtime = Boxlite.open();
let api: TestApi;
let id = "";

/** What a paused box answers a command, as the CLI would print it. */
const refusal = () => `box ${id} is paused; unpause it with 'boxlite unpause ${NAME}' first`;

const collected: string[] = [];
const collect = { onStdout: (bytes: Uint8Array) => void collected.push(new TextDecoder().decode(bytes)), onStderr: () => {} };

/**
 * The counter the box's background loop writes; read again while the loop is between
 * truncating and writing it, or has not written it yet (cat fails: a box restored from a
 * template is up before the loop's first write).
 */
async function counter(): Promise<number> {
  for (;;) {
    const exec = await runtime.exec(id, { command: ["cat", "/counter"] }, collect);
    const { code } = await exec.done;
    const text = collected.splice(0).join("").trim();
    if (code === 0 && text !== "") return Number(text);
    expect(code === 0 || text === "").toBe(true);
  }
}

async function status(): Promise<string> {
  return (await runtime.getBox(id)).status;
}

beforeAll(async () => {
  api = startApi(runtime);
  const run = await runCli(["run", "-d", "--name", NAME, "--", "sleep", "3600"]);
  expect(run.code, run.stderr).toBe(0);
  id = run.stdout.trim();
  // A counter that runs as fast as the box's vCPU lets it: it advances exactly while the VM runs.
  const loop = await runCli(["exec", "-d", NAME, "--", "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /counter; done"]);
  expect(loop.code, loop.stderr).toBe(0);
  await waitFor(async () => (await counter()) > 0, 30_000, "the counter to start");
});

afterAll(async () => {
  await runCli(["rm", "-f", NAME]);
  await api.close();
});

describe("a paused box", () => {
  test("stands still: paused, its VMM alive, its counter advancing far less than it would have while running", async () => {
    const vmm = qemuProcesses(id);
    expect(vmm.length).toBeGreaterThan(0);
    // How far the counter gets in PAUSE_MS while the box runs, read the same way.
    const PAUSE_MS = 1_500;
    const runStart = await counter();
    await Bun.sleep(PAUSE_MS);
    const running = (await counter()) - runStart;
    expect(running).toBeGreaterThan(0);

    const before = await counter();
    expect(await runtime.pause(NAME)).toBe(id);
    expect(await status()).toBe("paused");
    await Bun.sleep(PAUSE_MS);
    expect(qemuProcesses(id)).toEqual(vmm);
    expect(await runtime.unpause(NAME)).toBe(id);
    const whilePaused = (await counter()) - before;
    // Only the moments around the pause and the unpause count: a fraction of a running stretch.
    expect(whilePaused).toBeLessThan(running / 2);
    expect(await status()).toBe("running");
  });

  test("refuses exec and cp with a message that says to unpause it; ls shows it Paused; after unpause exec works", async () => {
    expect(await runCli(["pause", NAME])).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
    const exec = await runCli(["exec", NAME, "--", "true"]);
    expect(exec).toMatchObject({ code: 125, stdout: "", stderr: `boxlite: ${refusal()}\n` });
    const copy = await runCli(["cp", `${NAME}:/etc/hostname`, "/tmp"]);
    expect(copy).toMatchObject({ code: 1, stderr: `boxlite: ${refusal()}\n` });
    await expect(runtime.exec(id, { command: ["true"] }, collect)).rejects.toThrow(refusal());
    expect((await runCli(["ls"])).stdout).toMatch(new RegExp(`^${id.slice(0, 12)} .* Paused `, "m"));
    expect(await runCli(["unpause", NAME])).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
    expect(await runCli(["exec", NAME, "--", "echo", "back"])).toMatchObject({ code: 0, stdout: "back\n" });
  });

  test("a second pause, an unpause of a running box, a snapshot of a paused box: conflicts saying why", async () => {
    const unpauseRunning = await runCli(["unpause", NAME]);
    expect(unpauseRunning).toMatchObject({ code: 1, stdout: "" });
    expect(unpauseRunning.stderr).toBe(`boxlite: box ${id} is running, not paused; only a box paused with 'boxlite pause' can be unpaused\n`);
    await runtime.pause(id);
    const again = await runCli(["pause", NAME]);
    expect(again).toMatchObject({ code: 1, stdout: "" });
    expect(again.stderr).toBe(`boxlite: box ${id} is already paused; unpause it with 'boxlite unpause ${id}'\n`);
    await expect(runtime.createSnapshot(NAME, "while-paused")).rejects.toThrow(refusal());
    await runtime.unpause(id);
  });
});

describe("over REST", () => {
  test("POST …/pause and …/unpause answer the Box (200), and 409 or 404 as the runtime decides", async () => {
    const post = (box: string, action: string) => fetch(`${api.httpBase}/boxes/${box}/${action}`, { method: "POST" });
    const paused = await post(NAME, "pause");
    expect(paused.status).toBe(200);
    expect(await paused.json()).toMatchObject({ box_id: id, name: NAME, status: "paused" });
    const twice = await post(id, "pause");
    expect(twice.status).toBe(409);
    expect(await twice.json()).toMatchObject({
      error: { code: "invalid_state", message: `box ${id} is already paused; unpause it with 'boxlite unpause ${id}'` },
    });
    const unpaused = await post(id, "unpause");
    expect(unpaused.status).toBe(200);
    expect(await unpaused.json()).toMatchObject({ box_id: id, status: "running" });
    const notPaused = await post(id, "unpause");
    expect(notPaused.status).toBe(409);
    expect((await notPaused.json()) as object).toMatchObject({ error: { type: "InvalidStateError", code: "invalid_state" } });
    const unknown = await post("no-such-box", "pause");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ error: { code: "not_found" } });
  });

  test("the CLI with --url pauses and unpauses through the server, with the same output and exit codes", async () => {
    const remote = (...args: string[]) => runCli(["--url", api.httpBase.replace(/\/v1$/, ""), ...args]);
    expect(await remote("pause", NAME)).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
    expect(await status()).toBe("paused");
    const exec = await remote("exec", NAME, "--", "true");
    expect(exec).toMatchObject({ code: 125, stderr: `boxlite: ${refusal()}\n` });
    expect(await remote("unpause", NAME, "no-such-box")).toMatchObject({
      code: 1,
      stdout: `${id}\n`,
      stderr: `boxlite: no box "no-such-box"; see 'boxlite ls -a'\n`,
    });
    expect(await status()).toBe("running");
  });
});

describe("ending a paused box", () => {
  test("stop works: the box is stopped with its command's SIGTERM exit, and no QEMU process is left", async () => {
    await runtime.pause(id);
    const stop = await runCli(["stop", NAME]);
    expect(stop).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
    expect(await runtime.getBox(id)).toMatchObject({ status: "stopped", exit_code: 143 });
    expect(qemuProcesses(id)).toEqual([]);
    const pauseStopped = await runCli(["pause", NAME]);
    expect(pauseStopped).toMatchObject({ code: 1, stderr: `boxlite: box ${id} is stopped, not running; start it with 'boxlite start ${NAME}'\n` });
    const unpauseStopped = await runCli(["unpause", NAME]);
    expect(unpauseStopped.stderr).toBe(`boxlite: box ${id} is stopped, not paused; only a box paused with 'boxlite pause' can be unpaused\n`);
  });

  test("rm -f works and leaves no QEMU process", async () => {
    const other = await runCli(["run", "-d", "--name", `${NAME}-rm`, "--", "sleep", "3600"]);
    expect(other.code, other.stderr).toBe(0);
    const otherId = other.stdout.trim();
    expect(await runtime.pause(otherId)).toBe(otherId);
    expect(await runCli(["rm", "-f", `${NAME}-rm`])).toMatchObject({ code: 0, stdout: `${otherId}\n` });
    await expect(runtime.getBox(otherId)).rejects.toThrow(/no box/);
    expect(qemuProcesses(otherId)).toEqual([]);
  });

  test("a paused box whose owner dies is failed with the reason, not left paused", async () => {
    expect((await runCli(["start", NAME])).code).toBe(0);
    await runtime.pause(id);
    const supervisor = supervisorPids(id)[0];
    expect(supervisor).toBeGreaterThan(0);
    process.kill(supervisor as number, "SIGKILL");
    await waitFor(() => qemuProcesses(id).length === 0, 15_000, "the VM to die with its owner");
    expect(await runtime.getBox(id)).toMatchObject({ status: "failed", pid: null, error_reason: expect.stringContaining("its boxlite process died") });
  });
});
