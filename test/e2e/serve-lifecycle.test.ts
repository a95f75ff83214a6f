/**
 * What a `boxlite serve` does to the boxes its clients start, on real VMs: a box created
 * with detach: false does not outlive the server (killed or not), a detached one does; a
 * stopped box whose main command is the user's is not booted again by exec.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { qemuProcesses, runCli, waitFor } from "../helpers/cli.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve.ts";

let server: ServeProcess;

beforeAll(async () => {
  server = await startServeProcess();
});

afterAll(async () => {
  server.proc.kill();
  await server.proc.exited;
});

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await fetch(`${server.url}/v1${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { "Content-Type": "application/json" } }),
  });
  const text = await response.text();
  return { status: response.status, json: text === "" ? {} : (JSON.parse(text) as Record<string, unknown>) };
}

async function status(id: string): Promise<string> {
  return (await api("GET", `/boxes/${id}`)).json.status as string;
}

test("exec does not boot a stopped box whose main command is the user's: that would run it again", async () => {
  const box = (await api("POST", "/boxes", { name: "once", cmd: ["true"] })).json.box_id as string;
  expect((await api("POST", `/boxes/${box}/start`)).status).toBe(200);
  await waitFor(async () => (await status(box)) === "stopped", 60_000, "its main command to end the box");
  const refused = await api("POST", `/boxes/${box}/exec`, { command: "true" });
  expect(refused.status).toBe(409);
  expect(refused.json.error).toMatchObject({
    code: "invalid_state",
    message: `box ${box} is stopped: exec needs it running, and booting it would run its main command again; start it with 'boxlite start once' first`,
  });
  expect(await status(box)).toBe("stopped");
  expect((await api("DELETE", `/boxes/${box}`)).status).toBe(204);
});

test("a box created with detach: false ends with the server that started it; a detached one lives on", async () => {
  const owned = (await api("POST", "/boxes", { name: "owned", detach: false, memory_mib: 256 })).json.box_id as string;
  const free = (await api("POST", "/boxes", { name: "free", detach: true, memory_mib: 256 })).json.box_id as string;
  // Both boot on their first exec (their image's default command, a shell).
  for (const box of [owned, free]) expect((await api("POST", `/boxes/${box}/exec`, { command: "true" })).status).toBe(201);
  await waitFor(async () => (await status(owned)) === "running" && (await status(free)) === "running", 60_000, "both boxes to run");
  server.proc.kill("SIGKILL");
  await server.proc.exited;
  await waitFor(async () => JSON.parse((await runCli(["inspect", owned])).stdout)[0].State.Status === "stopped", 60_000, "the owned box to stop");
  expect(qemuProcesses(owned)).toEqual([]);
  expect(JSON.parse((await runCli(["inspect", free])).stdout)[0].State.Status).toBe("running");
  expect(qemuProcesses(free).length).toBeGreaterThan(0);
  expect((await runCli(["rm", "-f", owned, free])).code).toBe(0);
  expect(qemuProcesses(free)).toEqual([]);
  server = await startServeProcess();
});
