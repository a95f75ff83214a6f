/** GET /v1/config, /v1/me, /v1/metrics and /v1/openapi.json, in-process. */
import { afterAll, expect, test } from "bun:test";
import { ROUTES } from "../../src/api/schemas/routes.ts";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, executions, runtime } = makeApp();

afterAll(async () => {
  await executions.close();
});

test("GET /v1/config says what this build supports: capabilities, snapshots, clone, export and import", async () => {
  const answer = await call(app, "GET", "/v1/config");
  expect(answer.status).toBe(200);
  expect(answer.json).toMatchObject({
    defaults: { cpus: 1, memory_mib: 512, auto_delete: 0 },
    capabilities: {
      linux_capabilities_enabled: true,
      snapshots_enabled: true,
      clone_enabled: true,
      export_enabled: true,
      import_enabled: true,
      tty_enabled: true,
      streaming_enabled: true,
      max_cpus: 255,
      max_memory_mib: 65536,
    },
  });
});

test("GET /v1/me is the reference's local principal, with no path prefix, and the volume scope (this server serves volumes)", async () => {
  const answer = await call(app, "GET", "/v1/me");
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({
    sub: "local-anonymous",
    principal_type: "service_account",
    path_prefix: null,
    scopes: ["box:*", "image:*", "snapshot:*", "volume:*", "me:read"],
    expires_at: null,
  });
});

test("GET /v1/metrics counts the boxes this server created; a malformed exec request is not an exec error", async () => {
  const before = (await call(app, "GET", "/v1/metrics")).json as Record<string, number>;
  expect(Object.keys(before).sort()).toEqual([
    "boxes_created_total",
    "boxes_failed_total",
    "boxes_stopped_total",
    "num_running_boxes",
    "total_commands_executed",
    "total_exec_errors",
  ]);
  expect((await call(app, "POST", "/v1/boxes", { body: { name: "counted" } })).status).toBe(201);
  // A malformed exec request is the client's mistake, not an exec error.
  expect((await call(app, "POST", "/v1/boxes/counted/exec", { body: { command: 42 } })).status).toBe(400);
  const after = (await call(app, "GET", "/v1/metrics")).json as Record<string, number>;
  expect(after.boxes_created_total).toBe((before.boxes_created_total ?? 0) + 1);
  expect(after.total_exec_errors).toBe(before.total_exec_errors ?? 0);
  // Whoever started them: the home's running boxes, as the runtime lists them.
  expect(after.num_running_boxes).toBe((await runtime.listBoxes()).filter((box) => box.status === "running").length);
});

test("GET /v1/openapi.json describes every route of the table, with component schemas", async () => {
  const answer = await call(app, "GET", "/v1/openapi.json");
  expect(answer.status).toBe(200);
  const document = answer.json as {
    openapi: string;
    paths: Record<string, Record<string, { responses: Record<string, unknown> }>>;
    components: { schemas: Record<string, { properties?: Record<string, unknown> }> };
  };
  expect(document.openapi).toBe("3.1.1");
  for (const route of ROUTES) expect(document.paths[route.path]?.[route.method.toLowerCase()]).toBeDefined();
  expect(document.paths["/boxes"]?.post?.responses["201"]).toEqual({
    description: "Created",
    content: { "application/json": { schema: { $ref: "#/components/schemas/Box" } } },
  });
  expect(Object.keys(document.components.schemas.CreateBoxRequest?.properties ?? {})).toContain("auto_delete");
  // TypeBox's symbol keys are not JSON and must not leak as junk.
  expect(answer.text).not.toContain("Symbol(");
});

test("every row of the route table reaches a route (none falls through to 'no route')", async () => {
  for (const route of ROUTES) {
    const path = `/v1${route.path.replace(/\{[a-z_]+\}/g, "no-such-thing")}`;
    const answer = await call(app, route.method, path);
    if (answer.status >= 400 && route.method !== "HEAD") expect(envelopeOf(answer).message).not.toStartWith("no route");
    expect(answer.status).not.toBe(500);
  }
});

test("an error answer for HEAD has the status and no body", async () => {
  const answer = await call(app, "HEAD", "/v1/images/sha256:0000");
  expect(answer.status).toBe(404);
  expect(answer.text).toBe("");
});
