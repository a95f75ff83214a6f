/**
 * `boxlite serve` as a user runs it: refusals of unsafe or bad flags, and the real server
 * on a free port over HTTP, with an API key, through one box's whole life (create, start,
 * metrics, a server shutdown that leaves the box running, stop, remove). One VM boots.
 */
import { afterAll, expect, test } from "bun:test";
import { runCli } from "../helpers/cli.ts";
import { type ServeProcess, startServeProcess } from "../helpers/serve.ts";

const KEY = "serve-test-key";

type Server = ServeProcess;

const servers: Server[] = [];

async function startServer(): Promise<Server> {
  const server = await startServeProcess(["--api-key", KEY]);
  servers.push(server);
  return server;
}

async function request(server: Server, method: string, path: string, body?: unknown, key: string | null = KEY) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: { ...(key !== null ? { Authorization: `Bearer ${key}` } : {}), ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : undefined, requestId: response.headers.get("X-Request-Id") };
}

afterAll(async () => {
  for (const server of servers) if (server.proc.exitCode === null) server.proc.kill("SIGKILL");
  await runCli(["rm", "-f", "served"]);
});

test("serve refuses to listen beyond loopback without an API key, saying why", async () => {
  const result = await runCli(["serve", "--host", "0.0.0.0"], { env: { BOXLITE_SERVE_API_KEY: "" } });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("refusing to listen on 0.0.0.0 without an API key");
  expect(result.stderr).toContain("--api-key");
});

test("serve refuses a bad port or an empty key as usage errors", async () => {
  expect((await runCli(["serve", "--port", "70000"])).code).toBe(2);
  expect((await runCli(["serve", "--port", "http"])).code).toBe(2);
  expect((await runCli(["serve", "--api-key", ""])).code).toBe(2);
  const help = await runCli(["serve", "--help"]);
  expect(help).toMatchObject({ code: 0 });
  expect(help.stdout).toContain("Usage: boxlite serve");
});

test("the real server answers over HTTP, requires its key, and runs a box's life; SIGTERM leaves the box running", async () => {
  const server = await startServer();
  const list = await request(server, "GET", "/v1/boxes");
  expect(list.status).toBe(200);
  expect(Array.isArray(list.json?.boxes)).toBe(true);
  expect(list.requestId).toMatch(/^[0-9a-f-]{36}$/);
  expect((await request(server, "GET", "/v1/boxes", undefined, null)).status).toBe(401);
  expect((await request(server, "GET", "/v1/config", undefined, null)).status).toBe(200);

  const created = await request(server, "POST", "/v1/boxes", { name: "served", cmd: ["sleep", "3600"] });
  expect(created.status).toBe(201);
  expect(created.json?.status).toBe("configured");
  const started = await request(server, "POST", "/v1/boxes/served/start");
  expect(started.status).toBe(200);
  expect(started.json).toMatchObject({ name: "served", status: "running" });
  expect(typeof started.json?.pid).toBe("number");
  // Start is idempotent: a running box is answered as it is.
  expect((await request(server, "POST", "/v1/boxes/served/start")).json?.status).toBe("running");

  const exec = await request(server, "POST", "/v1/boxes/served/exec", { command: "true" });
  expect(exec.status).toBe(201);
  const metrics = await request(server, "GET", "/v1/boxes/served/metrics");
  expect(metrics.status).toBe(200);
  expect(metrics.json?.commands_executed_total).toBe(1);
  expect(typeof metrics.json?.cpu_percent).toBe("number");
  expect(metrics.json?.memory_bytes as number).toBeGreaterThan(1024 * 1024);
  const counters = (await request(server, "GET", "/v1/metrics")).json as Record<string, number>;
  expect(counters.boxes_created_total).toBe(1);
  expect(counters.total_commands_executed).toBe(1);
  expect(counters.num_running_boxes).toBeGreaterThanOrEqual(1);

  server.proc.kill("SIGTERM");
  expect(await server.proc.exited).toBe(0);
  expect(server.log()).toContain('msg="stopped"');
  // The box runs under its own supervisor: the server's end is not the box's.
  const listed = JSON.parse((await runCli(["ls", "--json"])).stdout) as Array<{ name: string; status: string }>;
  expect(listed.find((box) => box.name === "served")?.status).toBe("running");

  const again = await startServer();
  const stopped = await request(again, "POST", "/v1/boxes/served/stop", { timeout_seconds: 2 });
  expect(stopped.status).toBe(200);
  expect(stopped.json?.status).toBe("stopped");
  expect((await request(again, "GET", "/v1/metrics")).json).toMatchObject({ boxes_created_total: 0, boxes_stopped_total: 1 });
  expect((await request(again, "DELETE", "/v1/boxes/served")).status).toBe(204);
  expect((await request(again, "HEAD", "/v1/boxes/served")).status).toBe(404);
  again.proc.kill("SIGINT");
  expect(await again.proc.exited).toBe(0);
});
