/**
 * GET /v1/boxes/{id}/attach, the main session, against real boxes on a real server: a
 * held boot, the 101 with X-Boxlite-Execution-Id, one client at a time (409 here and from
 * another process), stop while held, a detaching client, start from a server that does
 * not hold the session, and the session's signal, resize and reaping by id. Three boxes,
 * one boot each.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { AttachClient, jsonRequest, startApi, type TestApi } from "../helpers/api.ts";
import { waitFor } from "../helpers/cli.ts";

const runtime = Boxlite.open();
let api: TestApi;
beforeAll(() => {
  api = startApi(runtime);
});
afterAll(async () => {
  await api.close();
});

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
const quiet = { onStdout: () => {}, onStderr: () => {} };
const mainLog = (id: string) => join(process.env.BOXLITE_HOME as string, "boxes", id, "logs", "main.log");

interface WireBox {
  box_id: string;
  status: string;
  exit_code: number | null;
}

async function createBox(body: Record<string, unknown>): Promise<string> {
  const answer = await api.app.request("/v1/boxes", jsonRequest("POST", { memory_mib: 256, ...body }));
  expect(answer.status).toBe(201);
  return ((await answer.json()) as WireBox).box_id;
}

async function boxOf(id: string): Promise<WireBox> {
  return (await (await api.app.request(`/v1/boxes/${id}`)).json()) as WireBox;
}

async function untilStopped(id: string): Promise<WireBox> {
  await waitFor(async () => (await boxOf(id)).status === "stopped", 60_000, `box ${id} to stop`);
  return boxOf(id);
}

/** A WebSocket handshake by hand, to read the 101's headers (WebSocket clients do not show them). */
async function rawUpgrade(path: string): Promise<{ head: string; closed: Promise<void>; close(): void }> {
  const url = new URL(`${api.httpBase}${path}`);
  let received = "";
  const head = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const socket = await Bun.connect({
    hostname: url.hostname,
    port: Number(url.port),
    socket: {
      data: (_socket, bytes) => {
        received += text(bytes);
        if (received.includes("\r\n\r\n")) head.resolve();
      },
      close: () => {
        head.resolve();
        closed.resolve();
      },
    },
  });
  socket.write(
    `GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  await head.promise;
  return { head: received.slice(0, received.indexOf("\r\n\r\n")), closed: closed.promise, close: () => socket.end() };
}

test("bad input: an unknown box is 404 and a malformed id 400, upgrade or not; a plain GET is 400 and boots nothing", async () => {
  const upgrade = { headers: { Upgrade: "websocket", Connection: "Upgrade" } };
  const unknown = await api.app.request("/v1/boxes/no-such-box/attach", upgrade);
  expect(unknown.status).toBe(404);
  expect(((await unknown.json()) as { error: { type: string } }).error.type).toBe("NotFoundError");
  expect((await api.app.request("/v1/boxes/..%2Fx/attach", upgrade)).status).toBe(400);
  expect((await api.app.request(`/v1/boxes/${"x".repeat(129)}/attach`, upgrade)).status).toBe(400);
  await expect(AttachClient.open(`${api.wsBase}/boxes/no-such-box/attach`)).rejects.toThrow();

  const id = await createBox({ cmd: ["true"] });
  const plain = await api.app.request(`/v1/boxes/${id}/attach`);
  expect(plain.status).toBe(400);
  expect(((await plain.json()) as { error: { message: string } }).error.message).toContain("WebSocket");
  expect((await boxOf(id)).status).toBe("configured");
});

test("attach boots a box held and names its session; one client at a time; stopped while held it powers off with no exit code", async () => {
  const id = await createBox({ cmd: ["sh", "-c", 'echo started; read line; echo "got $line"; echo err >&2; exit 5'] });
  const first = await rawUpgrade(`/boxes/${id}/attach`);
  expect(first.head).toStartWith("HTTP/1.1 101");
  expect(first.head.toLowerCase()).toContain(`x-boxlite-execution-id: ${id}`);
  expect((await boxOf(id)).status).toBe("running");
  const session = await api.app.request(`/v1/boxes/${id}/executions/${id}`);
  expect(((await session.json()) as { status: string }).status).toBe("running");

  // A second client, through this server or straight to the box's owner, is refused.
  const second = await api.app.request(`/v1/boxes/${id}/attach`, { headers: { Upgrade: "websocket", Connection: "Upgrade" } });
  expect(second.status).toBe(409);
  expect(((await second.json()) as { error: { code: string } }).error.code).toBe("invalid_state");
  const direct = await runtime.attachMain(id, quiet).catch((error: unknown) => error);
  expect(direct).toMatchObject({ code: "conflict" });

  const stopped = await api.app.request(`/v1/boxes/${id}/stop`, jsonRequest("POST", { timeout_seconds: 30 }));
  expect(stopped.status).toBe(200);
  // The main command never ran: no exit code, nothing in its log, and the attached client is told.
  expect(await untilStopped(id)).toMatchObject({ status: "stopped", exit_code: null });
  expect(existsSync(mainLog(id)) ? readFileSync(mainLog(id), "utf8") : "").not.toContain("started");
  await first.closed;
});

test("a detaching client does not end the main session; POST start runs it (from any server), and the next client gets the backlog, then live output, then the exit", async () => {
  const id = await createBox({ cmd: ["sh", "-c", 'echo started; read line; echo "got $line"; echo err >&2; exit 5'] });
  const leaving = await rawUpgrade(`/boxes/${id}/attach`);
  expect(leaving.head).toStartWith("HTTP/1.1 101");
  leaving.close();
  const tracked = await api.executions.find(id, id);
  await waitFor(() => !tracked.isAttached, 10_000, "the server to see the client go");
  expect(tracked.isRunning).toBe(true);

  // A server that does not hold the session starts the held command over the box socket.
  const other = startApi(runtime);
  try {
    const started = await other.app.request(`/v1/boxes/${id}/start`, { method: "POST" });
    expect(started.status).toBe(200);
    expect(((await started.json()) as WireBox).status).toBe("running");
  } finally {
    await other.close();
  }
  await waitFor(() => existsSync(mainLog(id)) && readFileSync(mainLog(id), "utf8").includes("started"), 30_000, "the main command to start");

  const client = await AttachClient.open(`${api.wsBase}/boxes/${id}/attach`);
  await client.waitForStdout("started\n");
  client.sendBytes("hello\n");
  expect(await client.whenClosed()).toBe(1000);
  expect(client.stdoutText()).toBe("started\ngot hello\n");
  expect(text(Buffer.concat(client.stderr))).toBe("err\n");
  expect(client.texts).toEqual([{ type: "exit", exit_code: 5 }]);
  expect(await untilStopped(id)).toMatchObject({ exit_code: 5 });
  expect(readFileSync(mainLog(id), "utf8")).toBe("started\ngot hello\nerr\n");
  const session = (await (await api.app.request(`/v1/boxes/${id}/executions/${id}`)).json()) as Record<string, unknown>;
  expect(session).toMatchObject({ execution_id: id, status: "completed", exit_code: 5 });
});

test("a main command that already runs is attached live; its terminal is resized and signalled by id, and the reaper never ends it", async () => {
  const script = "stty size; while [ ! -e /tmp/go ]; do sleep 0.1; done; stty size; echo ready; while :; do sleep 1; done";
  const id = await createBox({ tty: true, cmd: ["sh", "-c", script] });
  // Started without a hold (and nobody attached): its terminal has the default size.
  await runtime.start(id);
  await waitFor(() => existsSync(mainLog(id)) && readFileSync(mainLog(id), "utf8").includes("24 80"), 60_000, "the main command's first output");

  const client = await AttachClient.open(`${api.wsBase}/boxes/${id}/attach`);
  const resized = await api.app.request(`/v1/boxes/${id}/executions/${id}/resize`, jsonRequest("POST", { rows: 40, cols: 120 }));
  expect(resized.status).toBe(204);
  const go = await api.app.request(`/v1/boxes/${id}/exec`, jsonRequest("POST", { command: "touch", args: ["/tmp/go"] }));
  expect(go.status).toBe(201);
  await client.waitForStdout("ready");
  // Live from the attach on: what it printed before is in the log only.
  expect(client.stdoutText()).toBe("40 120\r\nready\r\n");

  // Past every grace and the lifetime cap, attached and not: the main session is the box's life.
  api.executions.reap(Date.now() + 2 * 86_400_000);
  client.socket.close();
  const tracked = await api.executions.find(id, id);
  await waitFor(() => !tracked.isAttached, 10_000, "the server to see the client go");
  api.executions.reap(Date.now() + 2 * 86_400_000);
  api.executions.reap(Date.now() + 4 * 86_400_000);
  expect(tracked.isRunning).toBe(true);
  expect((await boxOf(id)).status).toBe("running");

  const signalled = await api.app.request(`/v1/boxes/${id}/executions/${id}/signal`, jsonRequest("POST", { signal: 15 }));
  expect(signalled.status).toBe(204);
  expect(await untilStopped(id)).toMatchObject({ exit_code: 143 });
});
