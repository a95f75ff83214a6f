/** `boxlite rm`: removal under the box's lock, with clear errors for every loser. */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { boxIds, runningBox, stoppedBox } from "../helpers/boxes.ts";
import { qemuProcesses, runCli, waitFor } from "../helpers/cli.ts";

const home = () => process.env.BOXLITE_HOME as string;

test("rm removes a stopped box's record, directory and lock, and prints its id", async () => {
  const id = await stoppedBox();
  expect(existsSync(join(home(), "boxes", id))).toBe(true);
  const result = await runCli(["rm", id.slice(0, 16)]);
  expect(result).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
  expect(await boxIds()).not.toContain(id);
  expect(existsSync(join(home(), "boxes", id))).toBe(false);
  expect(existsSync(join(home(), "locks", id))).toBe(false);
});

test("two processes racing to remove one box: one succeeds, the other gets a clear error", async () => {
  const id = await stoppedBox();
  const [a, b] = await Promise.all([runCli(["rm", id]), runCli(["rm", id])]);
  const results = [a, b].sort((x, y) => x.code - y.code);
  expect(results[0]).toMatchObject({ code: 0, stdout: `${id}\n` });
  expect(results[1]?.code).toBe(1);
  // The holder may not have written its note yet: "busy: by another process" is right too.
  expect(results[1]?.stderr).toMatch(new RegExp(`box ${id} is busy|no box "${id}"|removed by another process`));
  expect(await boxIds()).not.toContain(id);
  // Whoever lost leaves no lock file behind for a box that is gone.
  expect(existsSync(join(home(), "locks", id))).toBe(false);
});

test("a box owned by a foreground run: rm refuses it while it runs, rm -f stops it and removes it", async () => {
  const { proc, id } = await runningBox();
  const refused = await runCli(["rm", id]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain(`box ${id} is running; stop it first, or remove it with rm -f`);
  expect(qemuProcesses(id).length).toBeGreaterThan(0);
  const forced = await runCli(["rm", "-f", id]);
  expect(forced).toMatchObject({ code: 0, stdout: `${id}\n` });
  // The run's command was stopped at once (SIGTERM, no grace): its CLI ends with it.
  expect([137, 143]).toContain(await proc.exited);
  expect(qemuProcesses(id)).toEqual([]);
  expect(await boxIds()).not.toContain(id);
});

test("rm removes a box left 'running' by a CLI that was killed, since no VM is left", async () => {
  const { proc, id } = await runningBox();
  proc.kill("SIGKILL");
  await waitFor(() => qemuProcesses(id).length === 0, 15_000, "the VM to die with its CLI");
  const result = await runCli(["rm", id]);
  // Its record still says running, but no VM is left: plain rm works as for a stopped box.
  expect(result).toMatchObject({ code: 0, stdout: `${id}\n` });
  expect(await boxIds()).not.toContain(id);
});

test("unknown boxes are reported one by one, the others still removed", async () => {
  const id = await stoppedBox();
  const result = await runCli(["rm", "no-such-box", id]);
  expect(result.code).toBe(1);
  expect(result.stdout).toBe(`${id}\n`);
  expect(result.stderr).toContain('no box "no-such-box"');
});

test("rm -a needs -f, and rm needs a box", async () => {
  expect(await runCli(["rm", "-a"])).toMatchObject({ code: 2, stderr: expect.stringContaining("add -f to confirm") });
  expect(await runCli(["rm"])).toMatchObject({ code: 2, stderr: expect.stringContaining("rm needs at least one BOX") });
});
