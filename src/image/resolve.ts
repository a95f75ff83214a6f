/** Turns the IMAGE argument of `run` into a prepared base disk. */
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { DEFAULT_IMAGE_NAME, prepareDefaultImage } from "./default-image.ts";
import type { ImageBase } from "./image.ts";

const DEFAULT_ALIASES = new Set([DEFAULT_IMAGE_NAME, "boxlite/default"]);

export async function resolveImage(config: Config, name: string | undefined): Promise<ImageBase> {
  if (name === undefined || DEFAULT_ALIASES.has(name)) return prepareDefaultImage(config);
  throw new BoxliteError(
    "not_found",
    `image ${JSON.stringify(name)} is not available: this build runs only the embedded default image ` +
      `(${DEFAULT_IMAGE_NAME}); omit IMAGE to use it`,
  );
}
