/** `boxlite logs`: a box's console, whole, tailed, and followed while it runs. */
import { expect, test } from "bun:test";
import { runningBox, stoppedBox } from "../helpers/boxes.ts";
import { cliCommand, REPO, runCli, waitFor } from "../helpers/cli.ts";

test("logs prints the guest agent's console lines, and -n keeps the last ones", async () => {
  const id = await stoppedBox();
  const all = await runCli(["logs", id]);
  expect(all.code).toBe(0);
  // Cold: the agent says it is ready on its port; restored from a template: that it woke.
  expect(all.stdout).toMatch(/^boxlite-guest: agent \S+ (ready on \/dev\/vport\dp\d|woke from saved memory)/m);
  // The box powered off cleanly, so its console ends with the agent's shutdown line (hvc0 writes CRLF).
  const last = await runCli(["logs", "-n", "1", id]);
  expect(last.stdout).toBe("boxlite-guest: shutting down\r\n");
});

test("logs -f prints while the box runs and returns when it stops", async () => {
  const { proc, id } = await runningBox();
  let followed = "";
  const follower = Bun.spawn(cliCommand(["logs", "-f", id]), { cwd: REPO, env: process.env, stdout: "pipe" });
  const reading = (async () => {
    for await (const chunk of follower.stdout) followed += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => followed.includes("boxlite-guest: agent"), 30_000, "the console to be printed");
  proc.kill("SIGTERM");
  await proc.exited;
  expect(await follower.exited).toBe(0);
  await reading;
});

test("logs of an unknown box, and a bad -n, are clear errors", async () => {
  expect(await runCli(["logs", "no-such-box"])).toMatchObject({ code: 1, stderr: expect.stringContaining('no box "no-such-box"') });
  expect(await runCli(["logs", "--tail=-2", "x"])).toMatchObject({ code: 2, stderr: expect.stringContaining("--tail must be 0") });
  expect(await runCli(["logs"])).toMatchObject({ code: 2, stderr: expect.stringContaining("exactly one BOX") });
});
