/**
 * Executions over REST (the contract's Execution tag): POST /boxes/{id}/exec starts a
 * command and answers its id at once; status, kill (DELETE), signal and resize act on it
 * by id; GET …/attach upgrades to the WebSocket of attach.ts. GET /boxes/{id}/attach does
 * the same for the box's main command (the reference's main session), booting the box
 * held when it is not running; its execution id, in `X-Boxlite-Execution-Id`, is the
 * box's. Paths are relative to /v1.
 */
import type { Static } from "@sinclair/typebox";
import { type Context, Hono } from "hono";
import { BoxliteError } from "../../util/errors.ts";
import type { ApiContext } from "../context.ts";
import type { StartExecution, TrackedExecution } from "../executions.ts";
import type { ApiEnv } from "../middleware.ts";
import { ExecRequest, ResizeRequest, SignalRequest } from "../schemas/executions.ts";
import { boxParam, readJsonBody } from "../validate.ts";
import { attachEvents, checkSignal } from "../attach.ts";

function startOptions(body: Static<typeof ExecRequest>): StartExecution {
  const start: StartExecution = { command: [body.command, ...(body.args ?? [])] };
  if (body.env) start.env = Object.entries(body.env).map(([key, value]) => `${key}=${value}`);
  if (body.working_dir !== undefined) start.workdir = body.working_dir;
  if (body.tty) start.tty = true;
  if (body.timeout_seconds !== undefined) start.timeoutMs = Math.round(body.timeout_seconds * 1000);
  if (body.stdin !== undefined) start.stdin = body.stdin;
  return start;
}

function requireUpgrade(header: string | undefined): void {
  if (header?.toLowerCase() !== "websocket")
    throw new BoxliteError("invalid_argument", "attach is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket)");
}

/** Upgrades to the attach WebSocket of an execution whose slot the caller reserved (freed again on failure). */
async function upgrade(context: ApiContext, c: Context<ApiEnv>, tracked: TrackedExecution, headers?: Record<string, string>): Promise<Response> {
  try {
    return await context.upgradeWebSocket(c, attachEvents(tracked), headers ? { headers } : undefined);
  } catch (error) {
    tracked.release();
    throw error;
  }
}

/** The routes of executions, to mount under /v1. */
export function executionRoutes(context: ApiContext): Hono<ApiEnv> {
  const { executions } = context;
  const app = new Hono<ApiEnv>();

  app.post("/boxes/:id/exec", async (c) => {
    const body = await readJsonBody(c, ExecRequest, { required: true });
    const tracked = await executions.start(boxParam(c), startOptions(body));
    c.header("Location", c.req.path.replace(/\/exec$/, `/executions/${tracked.id}`));
    return c.json({ execution_id: tracked.id }, 201);
  });

  app.get("/boxes/:id/executions/:eid", async (c) => {
    const tracked = await executions.find(boxParam(c), c.req.param("eid"));
    return c.json(tracked.info());
  });

  app.delete("/boxes/:id/executions/:eid", async (c) => {
    await executions.kill(await executions.find(boxParam(c), c.req.param("eid")));
    return c.body(null, 204);
  });

  app.post("/boxes/:id/executions/:eid/signal", async (c) => {
    const tracked = await executions.find(boxParam(c), c.req.param("eid"));
    const body = await readJsonBody(c, SignalRequest, { required: true });
    tracked.signal(checkSignal(body.signal));
    return c.body(null, 204);
  });

  app.post("/boxes/:id/executions/:eid/resize", async (c) => {
    const tracked = await executions.find(boxParam(c), c.req.param("eid"));
    const body = await readJsonBody(c, ResizeRequest, { required: true });
    tracked.resize(body.rows, body.cols);
    return c.body(null, 204);
  });

  app.get("/boxes/:id/executions/:eid/attach", async (c) => {
    const tracked = await executions.find(boxParam(c), c.req.param("eid"));
    requireUpgrade(c.req.header("Upgrade"));
    // Taken before the upgrade, so a second client gets a plain 409 rather than a socket.
    tracked.reserve();
    return upgrade(context, c, tracked);
  });

  app.get("/boxes/:id/attach", async (c) => {
    const box = await context.runtime.getBox(boxParam(c));
    // Checked before anything boots: a plain GET must not start a box.
    requireUpgrade(c.req.header("Upgrade"));
    // Reserved by attachMain: a second client gets a plain 409.
    return upgrade(context, c, await executions.attachMain(box.box_id), { "X-Boxlite-Execution-Id": box.box_id });
  });

  return app;
}
