/**
 * Clone, export and import over REST (docs/rest-api.md "Snapshots, clone, export and
 * import"). Clone answers the new box; export answers the `.boxlite` archive's bytes,
 * written under the home's tmp/ first and gone once sent; import stages the uploaded
 * archive there (bounded) and imports it as untrusted: the archive's security settings
 * give way to the server's defaults, and what would reach the server's host is refused.
 */
import { basename, join } from "node:path";
import { rmSync } from "node:fs";
import { Hono } from "hono";
import { BoxliteError } from "../../util/errors.ts";
import { makeStagingDir, receiveToFile, streamAndDelete } from "../archive-transfer.ts";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { CloneBoxRequest, ExportBoxRequest, ImportBoxQuery } from "../schemas/snapshots.ts";
import { boxParam, readJsonBody, readQuery } from "../validate.ts";
import { toBox } from "./boxes.ts";

/** The default bound on an uploaded archive: a box's disks, compressed, rarely come near it. */
export const IMPORT_LIMIT = 64 * 1024 * 1024 * 1024;

/** The routes of clone, export and import, to be mounted under /v1. `importLimit`: bytes an uploaded archive may have. */
export function portabilityRoutes(context: ApiContext, importLimit = IMPORT_LIMIT): Hono<ApiEnv> {
  const { runtime } = context;
  const routes = new Hono<ApiEnv>();

  routes.post("/boxes/:id/clone", async (c) => {
    const box = boxParam(c);
    // The contract requires a body; a bare POST (curl -X POST) is taken as {} all the same.
    const { name } = await readJsonBody(c, CloneBoxRequest, { required: false });
    const [id] = await runtime.cloneBox(box, name === undefined ? {} : { name });
    if (id === undefined) throw new BoxliteError("internal", `clone of ${box} made no box`);
    c.header("Location", `/v1/boxes/${id}`);
    return c.json(toBox(await runtime.getBox(id)), 201);
  });

  routes.post("/boxes/:id/export", async (c) => {
    const box = boxParam(c);
    await readJsonBody(c, ExportBoxRequest, { required: false });
    const dir = makeStagingDir(runtime.config, "export");
    let path: string;
    try {
      path = await runtime.exportBox(box, dir);
    } catch (error) {
      rmSync(dir, { recursive: true, force: true });
      throw error;
    }
    const { stream, size } = streamAndDelete(path, dir);
    return c.body(stream, 200, {
      "Content-Type": "application/octet-stream",
      "Content-Length": String(size),
      "Content-Disposition": `attachment; filename="${basename(path).replaceAll('"', "")}"`,
    });
  });

  routes.post("/boxes/import", async (c) => {
    const { name } = readQuery(c, ImportBoxQuery);
    const dir = makeStagingDir(runtime.config, "import");
    try {
      const archive = join(dir, "upload.boxlite");
      const size = await receiveToFile(c.req.raw.body, c.req.header("Content-Length"), archive, importLimit);
      if (size === 0) throw new BoxliteError("invalid_argument", "the request body is empty; send the .boxlite archive's bytes (application/octet-stream)");
      const id = await runtime.importBox(archive, { ...(name === undefined ? {} : { name }), untrusted: true });
      c.header("Location", `/v1/boxes/${id}`);
      return c.json(toBox(await runtime.getBox(id)), 201);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  return routes;
}
