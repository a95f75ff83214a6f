/**
 * The image cache over REST (the contract's Images; the local reference has none):
 * list, pull (answered once the image and its base disk are ready), and get or HEAD one
 * by manifest digest or reference.
 */
import type { Static } from "@sinclair/typebox";
import { Hono } from "hono";
import type { ImageInfo as RuntimeImageInfo } from "../../runtime/images.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { ApiContext } from "../context.ts";
import type { ApiEnv } from "../middleware.ts";
import { type ImageInfo, ListImagesQuery, PullImageRequest } from "../schemas/images.ts";
import { paginate, readJsonBody, readQuery } from "../validate.ts";

function toImageInfo(image: RuntimeImageInfo): Static<typeof ImageInfo> {
  return { reference: image.reference, repository: image.repository, tag: image.tag, id: image.id, cached_at: image.cached_at, size_bytes: image.size };
}

/** The image routes, to be mounted under /v1. */
export function imageRoutes(context: ApiContext): Hono<ApiEnv> {
  const { runtime } = context;
  const routes = new Hono<ApiEnv>();

  routes.get("/images", async (c) => {
    const query = readQuery(c, ListImagesQuery);
    const { page, next } = paginate(await runtime.listImages(), query.pageSize, query.pageToken);
    return c.json({ images: page.map(toImageInfo), ...(next !== undefined ? { next_page_token: next } : {}) });
  });

  routes.post("/images/pull", async (c) => {
    const { reference } = await readJsonBody(c, PullImageRequest, { required: true });
    const pulled = await runtime.pullImage(reference);
    const listed = (await runtime.listImages()).find((image) => image.reference === pulled.reference);
    // A pull records the image before it returns; not finding it is a bug, not the client's doing.
    if (!listed) throw new BoxliteError("internal", `pulled ${pulled.reference} but it is not in the image index`);
    return c.json(toImageInfo(listed));
  });

  // HEAD is answered by this GET route too (hono drops the body): 204 when cached, else 404.
  routes.get("/images/:image_id", async (c) => {
    const wanted = c.req.param("image_id");
    const found = (await runtime.listImages()).find((image) => image.id === wanted || image.reference === wanted);
    if (!found) throw new BoxliteError("not_found", `no image ${JSON.stringify(wanted.slice(0, 200))} in the cache; pull it with POST /v1/images/pull`);
    if (c.req.method === "HEAD") return c.body(null, 204);
    return c.json(toImageInfo(found));
  });

  return routes;
}
