/**
 * A hostile guest, on real VMs: boxes whose agent is replaced by a test build that misbehaves
 * (test/fixtures/hostile-guest/hostile.c, booted with BOXLITE_GUEST_AGENT). Garbage, an
 * oversized frame, output past its window, an answer nobody asked for, a guest that never
 * answers: each box fails with the reason, at once, and leaves no VM. A guest flooding frames
 * the host drops keeps its owner busy but small, and a stop still ends it. A neighbour box
 * answers throughout.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { qemuProcesses, runCli, supervisorPids, waitFor } from "../helpers/cli.ts";

const runtime = Boxlite.open();
const HOSTILE_AGENT = join(import.meta.dir, "..", "..", "build", "hostile-guest", "hostile-guest.bin");
const NEIGHBOUR = "e2e-neighbour";

/** The environment that boots the hostile agent in `mode` (cold: a template of it would only fail first). */
function hostile(mode: string): Record<string, string> {
  return { BOXLITE_GUEST_AGENT: HOSTILE_AGENT, BOXLITE_KERNEL_ARGS: `boxlite.hostile=${mode}`, BOXLITE_TEMPLATES: "off", BOXLITE_BOOT_TIMEOUT: "5" };
}

async function neighbourAnswers(): Promise<void> {
  const started = performance.now();
  const result = await runCli(["exec", NEIGHBOUR, "--", "echo", "here"]);
  expect(result).toMatchObject({ code: 0, stdout: "here\n" });
  expect(performance.now() - started).toBeLessThan(10_000);
}

/** The box's supervisor's resident memory, in MiB. */
function supervisorRssMib(id: string): number {
  const pid = supervisorPids(id)[0] ?? "";
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]) / 1024;
}

beforeAll(async () => {
  const started = await runCli(["run", "-d", "--name", NEIGHBOUR, "--network", "disabled", "--", "sleep", "3600"]);
  expect(started.code, started.stderr).toBe(0);
});

afterAll(async () => {
  await runCli(["rm", "-a", "-f"]);
});

test.each([
  ["garbage", "the guest sent a malformed frame: frame payload of"],
  ["oversized", "the guest sent a malformed frame: frame payload of 2147483648 bytes exceeds 1048576"],
  ["flood", "the guest sent a malformed frame: the guest sent 65536 bytes of output past its window on stream"],
  ["unasked", "the guest sent a malformed frame: the guest sent CONFIG that was not asked for"],
  ["stall", "the guest did not come up within 5 s"],
])("a guest that misbehaves (%s) fails its box with the reason, at once, and leaves no VM", async (mode, reason) => {
  const name = `e2e-hostile-${mode}`;
  const started = performance.now();
  // Some fail the start; the others once the box's main command starts, just after.
  await runCli(["run", "-d", "--name", name, "--network", "disabled", "--", "true"], { env: hostile(mode) });
  let box = await runtime.getBox(name);
  await waitFor(
    async () => {
      box = await runtime.getBox(name);
      return box.status === "failed";
    },
    30_000,
    `box ${name} to fail`,
  );
  expect(performance.now() - started).toBeLessThan(20_000);
  expect(box.error_reason ?? "").toContain(reason);
  expect(qemuProcesses(box.box_id)).toEqual([]);
  await neighbourAnswers();
});

test("a guest flooding frames the host drops keeps its owner small and its neighbour answering; a stop ends it", async () => {
  const run = await runCli(["run", "-d", "--name", "e2e-hostile-strays", "--network", "disabled", "--", "true"], { env: hostile("strays") });
  expect(run.code, run.stderr).toBe(0);
  const id = run.stdout.trim();
  await Bun.sleep(1_000);
  const first = supervisorRssMib(id);
  await neighbourAnswers();
  await Bun.sleep(3_000);
  const later = supervisorRssMib(id);
  // Tens of MB a second arrive; none of it may stay.
  expect(later).toBeLessThan(200);
  expect(later - first).toBeLessThan(40);
  expect((await runtime.getBox(id)).status).toBe("running");
  // It never reads the SHUTDOWN: its VM is killed once the grace after it is over.
  const stop = await runCli(["stop", "-t", "0", id]);
  expect(stop.code, stop.stderr).toBe(0);
  expect((await runtime.getBox(id)).status).toBe("stopped");
  expect(qemuProcesses(id)).toEqual([]);
  console.log(`hostile strays: supervisor RSS ${first.toFixed(0)} → ${later.toFixed(0)} MiB`);
});
