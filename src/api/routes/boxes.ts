/**
 * Box lifecycle over REST (as the reference's serve routes it): create (`configured`, not
 * booted), list, get by id, id prefix or name, HEAD, remove, start, stop, pause, unpause, suspend and resume
 * (ours), and per-box metrics. Each route is one
 * call into the runtime; create requests in either contract shape are read by the one
 * codec (model/codec.ts), which refuses what this build cannot honour with 400
 * `unsupported` naming the field, rather than dropping it.
 */
import type { Static } from "@sinclair/typebox";
import { Hono } from "hono";
import type { BoxOptions } from "../../model/box-options.ts";
import { decide, factsOfView } from "../../model/box-state.ts";
import { optionsFromRequest } from "../../model/codec.ts";
import type { BoxView } from "../../runtime/box-view.ts";
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
    // AutoStop (auto_pause, its older name) is a cloud feature: never on here.
    auto_pause: 0,
    auto_stop: 0,
    auto_delete: view.auto_delete,
    auto_resume: true,
    exit_code: view.exit_code,
    error_reason: view.error_reason,
    suspended: view.suspended === true,
    network: {
      outbound: { mode: view.network.mode, allow_net: view.network.allow_net },
      inbound: { mode: view.network.mode },
      mode: view.network.mode,
      allow_net: view.network.allow_net,
      published_ports: view.network.published_ports,
    },
    // A named volume is named as the newer contract's VolumeSpec names it (managed_volume).
    volumes: view.volumes.map(({ volume, ...rest }) => (volume === undefined ? rest : { ...rest, managed_volume: volume })),
  };
}

/**
 * The options of a create request: the codec's reading of it (model/codec.ts), with the
 * reference server's lifecycle rules: `detach` defaults to keeping the box (auto_delete
 * 0 detaches it), and a detached box cannot also be removed when it stops.
 */
export function createOptions(body: CreateRequest): BoxOptions {
  const options = optionsFromRequest(body);
  if (options.autoRemove === true && options.detach === true) {
    throw new BoxliteError("invalid_argument", "auto_delete > 0 removes the box when it stops; it cannot also be detach: true");
  }
  return { ...options, detach: options.detach ?? options.autoRemove !== true };
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
    // Start is idempotent (the state machine): a running box is answered as it is, its main
    // command started if an attach booted it held (the reference's run: create, attach, start).
    if (decide(factsOfView(view), "start") === "noop") {
      await context.executions.startMain(view.box_id);
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
    const timeoutMs = body.timeout_seconds != null ? Math.round(body.timeout_seconds * 1000) : undefined;
    // A box that is not running is answered as it is; one stopping is waited for.
    await runtime.stop(view.box_id, timeoutMs !== undefined ? { timeoutMs } : {});
    if (decide(factsOfView(view), "stop") === "act") counters.boxesStopped++;
    return c.json(toBox(await runtime.getBox(view.box_id)));
  });

  // boxlite's own (no contract has them): the runtime and the box's owner decide, and the Box is answered as it is then.
  for (const action of ["pause", "unpause", "suspend", "resume"] as const) {
    routes.post(`/boxes/:id/${action}`, async (c) => {
      const id = await runtime[action](boxParam(c));
      return c.json(toBox(await runtime.getBox(id)));
    });
  }

  routes.get("/boxes/:id/metrics", async (c) => {
    const view = await runtime.getBox(boxParam(c));
    const sample = view.status === "running" ? await runtime.stats(view.box_id, METRICS_SAMPLE_MS).catch(ignoreStopped) : undefined;
    const execs = counters.box(view.box_id);
    const metrics: Static<typeof BoxMetrics> = {
      commands_executed_total: execs.commands,
      exec_errors_total: execs.errors,
      // Stdio bytes are not kept in this build.
      bytes_sent_total: 0,
      bytes_received_total: 0,
      cpu_percent: sample?.cpu_percent ?? null,
      memory_bytes: sample?.memory_bytes ?? null,
      network_bytes_sent: sample?.network?.bytes_sent ?? null,
      network_bytes_received: sample?.network?.bytes_received ?? null,
      network_tcp_connections: sample?.network?.tcp_connections ?? null,
      network_tcp_errors: sample?.network?.tcp_errors ?? null,
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
