/**
 * Box lifecycle over REST (as the reference's serve routes it): create (`configured`, not booted), list, get by
 * id, id prefix or name, HEAD, remove, start, stop, and per-box metrics. Each route is one
 * call into the runtime; the contract's create fields this build cannot honour are refused
 * with 400 `unsupported` naming the field, rather than silently dropped.
 */
import type { Static } from "@sinclair/typebox";
import { Hono } from "hono";
import { DEFAULT_TTY_SIZE } from "../../guest-protocol/main-session.ts";
import type { BoxView } from "../../runtime/box-view.ts";
import type { RunOptions } from "../../runtime/options.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { type Box, type BoxMetrics, CreateBoxRequest, ListBoxesQuery, RemoveBoxQuery, StopBoxRequest } from "../schemas/boxes.ts";
import { boxParam, paginate, readJsonBody, readQuery } from "../validate.ts";
import type { ServerCounters } from "./system.ts";

type CreateRequest = Static<typeof CreateBoxRequest>;

/** CPU is sampled over this long for GET …/metrics: long enough to mean something, short enough to wait for. */
const METRICS_SAMPLE_MS = 500;

/** The contract's Box, from the runtime's view of a box. */
export function toBox(view: BoxView): Static<typeof Box> {
  return {
    box_id: view.box_id,
    name: view.name,
    status: view.status,
    created_at: view.created_at,
    updated_at: view.updated_at,
    pid: view.pid,
    image: view.image,
    cpus: view.cpus,
    memory_mib: view.memory_mib,
    labels: {},
    auto_pause: 0,
    auto_delete: view.auto_delete,
    auto_resume: true,
    exit_code: view.exit_code,
    error_reason: view.error_reason,
  };
}

function unsupported(field: string, why: string): BoxliteError {
  return new BoxliteError("unsupported", `${field} is not supported by this server: ${why}`);
}

/** Fields asking for what this build does not have; an empty or "off" value asks for nothing and passes. */
function refuseUnsupported(body: CreateRequest): void {
  if (body.disk_size_gb != null) throw unsupported("disk_size_gb", "a box's disk is its image's size; leave disk_size_gb out");
  const capabilities = body.advanced?.capabilities;
  if ((capabilities?.add?.length ?? 0) > 0 || (capabilities?.drop?.length ?? 0) > 0)
    throw unsupported("advanced.capabilities", "Linux capabilities cannot be changed in this build");
  if (body.network?.mode === "enabled") throw unsupported("network", 'boxes of this build have no network; use {"mode": "disabled"} or leave network out');
  if (body.security != null) throw unsupported("security", "security presets are not in this build");
  if ((body.volumes?.length ?? 0) > 0) throw unsupported("volumes", "volumes are not in this build; copy files with PUT /v1/boxes/{id}/files");
  if ((body.secrets?.length ?? 0) > 0) throw unsupported("secrets", "secret substitution needs a network, which this build does not have");
  // As the local reference: AutoPause is a cloud feature (auto_resume is ignored there too).
  if ((body.auto_pause ?? 0) > 0) throw unsupported("auto_pause", "AutoPause is a cloud feature; use 0");
  if (body.detach === false) throw unsupported("detach", "every box started over REST runs under its own supervisor and outlives the server");
}

/** The runtime's options for a create request (`null` means left out). */
export function createOptions(body: CreateRequest): RunOptions {
  refuseUnsupported(body);
  if (body.image != null && body.rootfs_path != null) throw new BoxliteError("invalid_argument", "give either image or rootfs_path, not both");
  const autoDelete = (body.auto_delete ?? 0) > 0;
  // The reference refuses a detached box that removes itself on stop (detach defaults to auto_delete == 0).
  if (autoDelete && body.detach === true)
    throw new BoxliteError("invalid_argument", "auto_delete > 0 removes the box when it stops; it cannot also be detach: true");
  const env = Object.entries(body.env ?? {}).map(([key, value]) => {
    if (key === "" || key.includes("=")) throw new BoxliteError("invalid_argument", `invalid field "env": ${JSON.stringify(key)} is not a variable name`);
    return `${key}=${value}`;
  });
  const options: RunOptions = { env, autoRemove: autoDelete };
  if (body.name != null) options.name = body.name;
  // Without image or rootfs_path: the image embedded in boxlite (the reference pulls alpine:latest).
  if (body.image != null) options.image = body.image;
  if (body.rootfs_path != null) options.rootfs = body.rootfs_path;
  if (body.cpus != null) options.cpus = body.cpus;
  if (body.memory_mib != null) options.memoryMib = body.memory_mib;
  if (body.working_dir != null) options.workdir = body.working_dir;
  if (body.entrypoint != null) options.entrypoint = body.entrypoint;
  if (body.cmd != null) options.command = body.cmd;
  if (body.user != null) options.user = body.user;
  // A terminal for the main command, sized by the client that attaches (GET …/attach) before the start.
  if (body.tty === true) options.tty = { ...DEFAULT_TTY_SIZE };
  return options;
}

function isUp(view: BoxView): boolean {
  return view.status === "running" || view.status === "stopping";
}

/** The box routes, to be mounted under /v1. */
export function boxRoutes(context: ApiContext, counters: ServerCounters): Hono<ApiEnv> {
  const { runtime } = context;
  const routes = new Hono<ApiEnv>();

  routes.post("/boxes", async (c) => {
    const options = createOptions(await readJsonBody(c, CreateBoxRequest, { required: true }));
    const id = await runtime.create(options);
    counters.boxesCreated++;
    c.header("Location", `/v1/boxes/${id}`);
    return c.json(toBox(await runtime.getBox(id)), 201);
  });

  routes.get("/boxes", async (c) => {
    const query = readQuery(c, ListBoxesQuery);
    const boxes = (await runtime.listBoxes({ all: true })).filter((box) => query.status === undefined || box.status === query.status);
    const { page, next } = paginate(boxes, query.pageSize, query.pageToken);
    return c.json({ boxes: page.map(toBox), ...(next !== undefined ? { next_page_token: next } : {}) });
  });

  // hono answers HEAD with this GET route (and drops the body): HEAD is "exists?", 204 or 404.
  routes.get("/boxes/:id", async (c) => {
    const view = await runtime.getBox(boxParam(c));
    if (c.req.method === "HEAD") return c.body(null, 204);
    return c.json(toBox(view));
  });

  routes.delete("/boxes/:id", async (c) => {
    const id = boxParam(c);
    const { force } = readQuery(c, RemoveBoxQuery);
    // The local reference removes a running box unless told otherwise (the contract's default is false).
    await runtime.removeBox(id, { force: force ?? true });
    return c.body(null, 204);
  });

  routes.post("/boxes/:id/start", async (c) => {
    const view = await runtime.getBox(boxParam(c));
    // The contract makes start idempotent: a running box is answered as it is, its main
    // command started if an attach booted it held (the reference's run: create, attach, start).
    if (isUp(view)) {
      if (view.status === "running") await context.executions.startMain(view.box_id);
      return c.json(toBox(view));
    }
    try {
      await runtime.start(view.box_id);
    } catch (error) {
      counters.boxesFailed++;
      throw error;
    }
    return c.json(toBox(await runtime.getBox(view.box_id)));
  });

  routes.post("/boxes/:id/stop", async (c) => {
    const view = await runtime.getBox(boxParam(c));
    const body = await readJsonBody(c, StopBoxRequest, { required: false });
    if (isUp(view)) {
      const timeoutMs = body.timeout_seconds != null ? Math.round(body.timeout_seconds * 1000) : undefined;
      await runtime.stop(view.box_id, timeoutMs !== undefined ? { timeoutMs } : {});
      counters.boxesStopped++;
    }
    return c.json(toBox(await runtime.getBox(view.box_id)));
  });

  routes.get("/boxes/:id/metrics", async (c) => {
    const view = await runtime.getBox(boxParam(c));
    const sample = view.status === "running" ? await runtime.stats(view.box_id, METRICS_SAMPLE_MS).catch(ignoreStopped) : undefined;
    const execs = counters.box(view.box_id);
    const metrics: Static<typeof BoxMetrics> = {
      commands_executed_total: execs.commands,
      exec_errors_total: execs.errors,
      // Stdio bytes and network counters are not kept in this build.
      bytes_sent_total: 0,
      bytes_received_total: 0,
      cpu_percent: sample?.cpu_percent ?? null,
      memory_bytes: sample?.memory_bytes ?? null,
      network_bytes_sent: null,
      network_bytes_received: null,
      network_tcp_connections: null,
      network_tcp_errors: null,
    };
    return c.json(metrics);
  });

  return routes;
}

/** A box that stopped between the lookup and the sample has no usage: not an error. */
function ignoreStopped(error: unknown): undefined {
  if (error instanceof BoxliteError && error.code === "conflict") return undefined;
  throw error;
}
