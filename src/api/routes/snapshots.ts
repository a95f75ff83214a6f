/**
 * Snapshots of a box's disk over REST (docs/snapshots.md): create, list (newest first),
 * get, remove (409 while another disk needs it) and restore (409 unless the box is
 * stopped). Each route is one runtime call; the runtime checks names and states.
 */
import type { Static } from "@sinclair/typebox";
import { type Context, Hono } from "hono";
import type { SnapshotInfo } from "../../db/snapshots.ts";
import { checkSnapshotName } from "../../runtime/snapshots.ts";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { CreateSnapshotRequest, type Snapshot } from "../schemas/snapshots.ts";
import { boxParam, readJsonBody } from "../validate.ts";

/** The contract's Snapshot: a box here has one disk, so `guest_disk_bytes` is 0. */
export function toWireSnapshot(info: SnapshotInfo): Static<typeof Snapshot> {
  return {
    id: info.id,
    box_id: info.box_id,
    name: info.name,
    created_at: info.created_at,
    guest_disk_bytes: 0,
    container_disk_bytes: info.container_disk_bytes,
    size_bytes: info.size_bytes,
  };
}

/** The `:name` path segment (decoded, so `%2F` is a slash), held to the runtime's rule for names. */
function snapshotParam(c: Context): string {
  const name = c.req.param("name") ?? "";
  checkSnapshotName(name);
  return name;
}

/** The snapshot routes, to be mounted under /v1. */
export function snapshotRoutes(context: ApiContext): Hono<ApiEnv> {
  const { runtime } = context;
  const routes = new Hono<ApiEnv>();

  routes.post("/boxes/:id/snapshots", async (c) => {
    const box = boxParam(c);
    const { name } = await readJsonBody(c, CreateSnapshotRequest, { required: true });
    return c.json(toWireSnapshot(await runtime.createSnapshot(box, name)), 201);
  });

  routes.get("/boxes/:id/snapshots", async (c) => c.json({ snapshots: (await runtime.listSnapshots(boxParam(c))).map(toWireSnapshot) }));

  routes.get("/boxes/:id/snapshots/:name", async (c) => {
    const box = boxParam(c);
    return c.json(toWireSnapshot(await runtime.getSnapshot(box, snapshotParam(c))));
  });

  routes.delete("/boxes/:id/snapshots/:name", async (c) => {
    const box = boxParam(c);
    await runtime.removeSnapshot(box, snapshotParam(c));
    return c.body(null, 204);
  });

  routes.post("/boxes/:id/snapshots/:name/restore", async (c) => {
    const box = boxParam(c);
    await runtime.restoreSnapshot(box, snapshotParam(c));
    return c.body(null, 204);
  });

  return routes;
}
