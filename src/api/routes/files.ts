/**
 * Files over REST (the contract's Files tag), as tar streams through the box's agent
 * (docs/guest-protocol.md "Copying files"). PUT ?path=P writes a one-file tar as the file
 * P, unless P ends in `/` or is a directory, which then receives the tar's entries (created
 * when missing, its parents not): the reference's rule, and cp's. GET ?path=SRC answers a
 * tar whose entries start with SRC's basename. Both stream with backpressure, whatever the
 * size, and boot a box on its image's default command first, as exec does. Paths are
 * absolute and resolve inside the box: the agent works chrooted into the box's root, so
 * `..` cannot leave it.
 */
import { Hono } from "hono";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { DownloadQuery, UploadQuery } from "../schemas/executions.ts";
import { boxParam, readQuery } from "../validate.ts";

async function* empty(): AsyncGenerator<Uint8Array> {}

/** The routes of files, to mount under /v1. */
export function fileRoutes(context: ApiContext): Hono<ApiEnv> {
  const { runtime } = context;
  const app = new Hono<ApiEnv>();

  app.put("/boxes/:id/files", async (c) => {
    const box = boxParam(c);
    const query = readQuery(c, UploadQuery);
    await runtime.filesInStream(box, query.path, c.req.raw.body ?? empty(), { noOverwrite: query.overwrite === false });
    return c.body(null, 204);
  });

  app.get("/boxes/:id/files", async (c) => {
    const box = boxParam(c);
    const query = readQuery(c, DownloadQuery);
    const { stream } = await runtime.filesOutStream(box, query.path, { followSymlinks: query.follow_symlinks === true });
    return c.body(stream, 200, { "Content-Type": "application/x-tar" });
  });

  return app;
}
