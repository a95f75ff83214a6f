/**
 * Executions over REST against a real box: start, status, kill, signal, resize, and the
 * attach WebSocket on a real server (stdin/stdout byte-exact, replay on reattach, the exit
 * frame, one client at a time, bad frames), and the reaper with small graces. One
 * detached fixture.box serves the whole file.
 */
import { expect, test } from "bun:test";
import { BACKLOG_BYTES, type ExecutionClient, TrackedExecution } from "../../src/api/execution.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { AttachClient, jsonRequest, startApi, type TestApi, useApiBox } from "../helpers/api.ts";
import { waitFor } from "../helpers/cli.ts";

const runtime = Boxlite.open();
const fixture = useApiBox(runtime);

async function startExec(body: Record<string, unknown>, target: TestApi = fixture.api): Promise<string> {
  const response = await target.app.request(`/v1/boxes/${fixture.box}/exec`, jsonRequest("POST", body));
  expect(response.status).toBe(201);
  const { execution_id } = (await response.json()) as { execution_id: string };
  expect(response.headers.get("Location")).toBe(`/v1/boxes/${fixture.box}/executions/${execution_id}`);
  return execution_id;
}

async function info(id: string, target: TestApi = fixture.api): Promise<Response> {
  return target.app.request(`/v1/boxes/${fixture.box}/executions/${id}`);
}

const attachUrl = (id: string, target: TestApi = fixture.api) => `${target.wsBase}/boxes/${fixture.box}/executions/${id}/attach`;

test("an exec answers 201 with an id, and its status then says completed with the exit code", async () => {
  const id = await startExec({ command: "sh", args: ["-c", "exit 3"] });
  expect(id).toMatch(/^[0-9a-z]{26}$/);
  await waitFor(async () => ((await (await info(id)).json()) as { status: string }).status !== "running", 60_000, "the exec to finish");
  const status = (await (await info(id)).json()) as Record<string, unknown>;
  expect(status).toMatchObject({ execution_id: id, status: "completed", exit_code: 3, error_message: null });
  expect(new Date(status.started_at as string).getTime()).toBeGreaterThan(Date.now() - 600_000);
  expect(typeof status.duration_ms).toBe("number");
});

test("bad requests are 400s and unknown boxes or executions 404s, in the error envelope", async () => {
  const missingCommand = await fixture.api.app.request(`/v1/boxes/${fixture.box}/exec`, jsonRequest("POST", { args: ["x"] }));
  expect(missingCommand.status).toBe(400);
  expect(((await missingCommand.json()) as { error: { code: string } }).error.code).toBe("invalid_argument");
  const noBox = await fixture.api.app.request("/v1/boxes/nosuchbox/exec", jsonRequest("POST", { command: "true" }));
  expect(noBox.status).toBe(404);
  const noExec = await info("01nosuchexecution000000000");
  expect(noExec.status).toBe(404);
  expect(((await noExec.json()) as { error: { type: string } }).error.type).toBe("NotFoundError");
});

test("1 MiB through cat comes back byte-exact, then the exit frame and close 1000", async () => {
  // cat starts late, so stdin piles up on the server and the socket is paused and resumed.
  const id = await startExec({ command: "sh", args: ["-c", "sleep 1; exec cat"] });
  const client = await AttachClient.open(attachUrl(id));
  const bytes = new Uint8Array(1024 * 1024);
  for (let offset = 0; offset < bytes.length; offset += 65536) crypto.getRandomValues(bytes.subarray(offset, offset + 65536));
  for (let offset = 0; offset < bytes.length; offset += 50_000) client.sendBytes(bytes.subarray(offset, offset + 50_000));
  client.sendText({ type: "stdin_eof" });
  expect(await client.whenClosed()).toBe(1000);
  expect(client.stdoutBytes().length).toBe(bytes.length);
  expect(Buffer.compare(client.stdoutBytes(), bytes)).toBe(0);
  expect(client.texts).toEqual([{ type: "exit", exit_code: 0 }]);
  expect(client.order.at(-1)).toBe("exit");
});

test("a TTY exec is resized over REST and over the socket: stty size sees both", async () => {
  const id = await startExec({ command: "sh", args: ["-c", "read a; stty size; read b; stty size"], tty: true });
  const client = await AttachClient.open(attachUrl(id));
  const resized = await fixture.api.app.request(`/v1/boxes/${fixture.box}/executions/${id}/resize`, jsonRequest("POST", { rows: 40, cols: 120 }));
  expect(resized.status).toBe(204);
  client.sendBytes("\n");
  await client.waitForStdout("40 120");
  client.sendText({ type: "resize", rows: 33, cols: 101 });
  client.sendBytes("\n");
  await client.waitForStdout("33 101");
  expect(await client.whenClosed()).toBe(1000);
  // A PTY merges stderr into stdout: only 0x01 frames come.
  expect(client.stderr).toEqual([]);
});

test("bad frames get error frames and the connection stays; a signal frame ends the command", async () => {
  const id = await startExec({ command: "sleep", args: ["600"] });
  const client = await AttachClient.open(attachUrl(id));
  client.sendText("not json");
  client.sendText({ type: "bogus" });
  client.sendText({ type: "signal", sig: 9 });
  client.sendText({ type: "resize", rows: 10, cols: 10 }); // not a TTY
  await client.waitForTexts(4);
  expect(client.texts.every((text) => text.type === "error")).toBe(true);
  expect(JSON.stringify(client.texts[2])).toContain("DELETE");
  expect(client.closeCode).toBeUndefined();

  const kill = await fixture.api.app.request(`/v1/boxes/${fixture.box}/executions/${id}/signal`, jsonRequest("POST", { signal: 9 }));
  expect(kill.status).toBe(400);
  expect(((await kill.json()) as { error: { message: string } }).error.message).toContain("DELETE");
  const resize = await fixture.api.app.request(`/v1/boxes/${fixture.box}/executions/${id}/resize`, jsonRequest("POST", { rows: 10, cols: 10 }));
  expect(resize.status).toBe(409);

  client.sendText({ type: "signal", sig: 15 });
  expect(await client.whenClosed()).toBe(1000);
  expect(client.texts.at(-1)).toEqual({ type: "exit", exit_code: 143 });
});

test("a client that reattaches gets the backlog, then live output, each byte once", async () => {
  const id = await startExec({ command: "sh", args: ["-c", "echo one; read x; echo two; read y; echo three"] });
  const first = await AttachClient.open(attachUrl(id));
  await first.waitForStdout("one\n");
  first.sendBytes("go\n");
  first.socket.close();
  // Output "two" is written while nobody is attached: the backlog keeps it.
  const tracked = await fixture.api.executions.find(fixture.box, id);
  await waitFor(() => !tracked.isAttached, 10_000, "the server to see the first client go");
  const second = await AttachClient.open(attachUrl(id));
  await second.waitForStdout("one\ntwo\n");
  second.sendBytes("go\n");
  expect(await second.whenClosed()).toBe(1000);
  expect(second.stdoutText()).toBe("one\ntwo\nthree\n");
  expect(second.texts).toEqual([{ type: "exit", exit_code: 0 }]);
});

test("a second client gets 409 while one is attached; DELETE kills, the client sees the exit, the id is gone", async () => {
  const id = await startExec({ command: "sleep", args: ["600"] });
  const client = await AttachClient.open(attachUrl(id));
  const second = await fixture.api.app.request(`/v1/boxes/${fixture.box}/executions/${id}/attach`, {
    headers: { Upgrade: "websocket", Connection: "Upgrade" },
  });
  expect(second.status).toBe(409);
  expect(((await second.json()) as { error: { code: string } }).error.code).toBe("invalid_state");
  await expect(AttachClient.open(attachUrl(id))).rejects.toThrow();

  const killed = await fixture.api.app.request(`/v1/boxes/${fixture.box}/executions/${id}`, { method: "DELETE" });
  expect(killed.status).toBe(204);
  expect(await client.whenClosed()).toBe(1000);
  expect(client.texts).toEqual([{ type: "exit", exit_code: 137 }]);
  expect((await info(id)).status).toBe(404);
});

test("the reaper sends an abandoned exec SIGHUP, SIGTERM, then SIGKILL, and evicts it (then 410)", async () => {
  const reaping = startApi(runtime, { tickMs: 50, reconnectGraceMs: 1000, shutdownGraceMs: 1000, completedTtlMs: 300 });
  try {
    const script = 'echo $$ > /tmp/reaped.pid; trap "echo hup >> /tmp/reaped.log" HUP; trap "echo term >> /tmp/reaped.log" TERM; while :; do sleep 0.1; done';
    const id = await startExec({ command: "sh", args: ["-c", script] }, reaping);
    // Reaped, it is gone with a reason: 410 SessionReapedError, as the reference answers.
    await waitFor(async () => (await info(id, reaping)).status === 410, 60_000, "the reaper to evict the exec");
    const check = await startExec({
      command: "sh",
      args: [
        "-c",
        "cat /tmp/reaped.log; i=0; while kill -0 $(cat /tmp/reaped.pid) 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i+1)); done; kill -0 $(cat /tmp/reaped.pid) 2>/dev/null && echo alive || echo gone",
      ],
    });
    const client = await AttachClient.open(attachUrl(check));
    await client.whenClosed();
    expect(client.stdoutText()).toBe("hup\nterm\ngone\n");

    // A finished exec stays readable for the completed TTL, then goes too.
    const done = await startExec({ command: "true" }, reaping);
    await waitFor(async () => (await info(done, reaping)).status === 404, 30_000, "the finished exec to be evicted");

    // Closing the registry tells an attached client the server is going away.
    const attached = await AttachClient.open(attachUrl(await startExec({ command: "sleep", args: ["600"] }, reaping), reaping));
    await reaping.executions.close();
    expect(await attached.whenClosed()).toBe(1001);
  } finally {
    await reaping.close();
  }
});

/** A client that records what it is sent and reports `buffered` bytes queued. */
function fakeClient(buffered = 0): ExecutionClient & { frames: Uint8Array[]; closed: number[] } {
  const frames: Uint8Array[] = [];
  const closed: number[] = [];
  return {
    frames,
    closed,
    send: (data) => void (typeof data !== "string" && frames.push(data)),
    close: (code) => void closed.push(code),
    bufferedAmount: () => buffered,
  };
}

test("with nobody attached the backlog keeps the newest 256 KiB and never holds the command", () => {
  const tracked = new TrackedExecution("e", "b", false);
  const all = new Uint8Array(300 * 1024);
  for (let offset = 0; offset < all.length; offset += 65536) crypto.getRandomValues(all.subarray(offset, offset + 65536));
  for (let offset = 0; offset < all.length; offset += 1000) expect(tracked.output(1, all.subarray(offset, offset + 1000))).toBeUndefined();
  const client = fakeClient();
  tracked.reserve();
  tracked.attach(client);
  const replayed = Buffer.concat(client.frames.map((frame) => frame.subarray(1)));
  expect(replayed.length).toBe(BACKLOG_BYTES);
  expect(Buffer.compare(replayed, all.subarray(all.length - BACKLOG_BYTES))).toBe(0);
  expect(client.frames.every((frame) => frame[0] === 1)).toBe(true);
  // Live output follows the replay once, in its own frame.
  tracked.output(2, new Uint8Array([7]));
  expect(Array.from(client.frames.at(-1) ?? [])).toEqual([2, 7]);
  expect(() => tracked.reserve()).toThrow("already has a client attached");
});

test("a client that does not read holds the command only until it goes away", async () => {
  const tracked = new TrackedExecution("e", "b", false);
  const slow = fakeClient(4 * 1024 * 1024);
  tracked.reserve();
  tracked.attach(slow);
  const held = tracked.output(1, new Uint8Array(10));
  expect(held).toBeInstanceOf(Promise);
  let released = false;
  void (held as Promise<void>).then(() => (released = true));
  await Bun.sleep(50);
  expect(released).toBe(false);
  tracked.detach(slow);
  await waitFor(() => released, 5_000, "the held output to be released");
  expect(tracked.output(1, new Uint8Array(10))).toBeUndefined();
});
