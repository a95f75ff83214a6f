/**
 * Named volumes over REST (the newer contract's /v1/volumes): create, list, get by id,
 * name or unique id prefix, and remove (409 while a box uses it, unless `force`).
 */
import type { Static } from "@sinclair/typebox";
import { Hono, type Context } from "hono";
import type { VolumeRecord } from "../../runtime/named-volumes.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { CreateVolumeRequest, RemoveVolumeQuery, type Volume, type VolumeSummary } from "../schemas/volumes.ts";
import { readJsonBody, readQuery } from "../validate.ts";

/** Ids are ULIDs and names follow docker's rule: neither starts with a dot nor holds a slash. */
const VOLUME_REF = /^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$/;

function volumeParam(c: Context): string {
  const value = c.req.param("volume_id") ?? "";
  if (!VOLUME_REF.test(value))
    throw new BoxliteError("invalid_argument", `${JSON.stringify(value.slice(0, 140))} is not a volume id or name (letters, digits, _ . -, up to 128)`);
  return value;
}

export function toWireVolume(volume: VolumeRecord): Static<typeof Volume> {
  return { id: volume.id, name: volume.name, state: "ready", created_at: volume.created_at, updated_at: volume.updated_at };
}

function toSummary(volume: VolumeRecord): Static<typeof VolumeSummary> {
  return { id: volume.id, name: volume.name, state: "ready", created_at: volume.created_at };
}

/** The volume routes, to be mounted under /v1. */
export function volumeRoutes(context: ApiContext): Hono<ApiEnv> {
  const { runtime } = context;
  const routes = new Hono<ApiEnv>();

  routes.post("/volumes", async (c) => {
    // The body is optional: none (or {}) makes a volume named after its id.
    const body = await readJsonBody(c, CreateVolumeRequest, { required: false });
    const volume = await runtime.createVolume(body.name === undefined ? {} : { name: body.name });
    return c.json(toWireVolume(volume), 201);
  });

  routes.get("/volumes", async (c) => c.json({ volumes: (await runtime.listVolumes()).map(toSummary) }));

  routes.get("/volumes/:volume_id", async (c) => c.json(toWireVolume(await runtime.getVolume(volumeParam(c)))));

  routes.delete("/volumes/:volume_id", async (c) => {
    const ref = volumeParam(c);
    const { force } = readQuery(c, RemoveVolumeQuery);
    await runtime.removeVolume(ref, { force: force ?? false });
    return c.body(null, 204);
  });

  return routes;
}
