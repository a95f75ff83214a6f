/** Turns the IMAGE argument of `run` into a prepared base disk. */
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { DEFAULT_IMAGE_NAME, prepareDefaultImage } from "./default-image.ts";
import type { ImageBase } from "./image.ts";
import { formatReference, parseReference } from "./reference.ts";

const DEFAULT_ALIASES = new Set([DEFAULT_IMAGE_NAME, "boxlite/default"]);

export async function resolveImage(config: Config, name: string | undefined): Promise<ImageBase> {
  if (name === undefined || DEFAULT_ALIASES.has(name)) return prepareDefaultImage(config);
  const reference = formatReference(parseReference(name));
  throw new BoxliteError(
    "not_found",
    `image ${reference} is not available: this build cannot pull from registries yet and runs only the embedded ` +
      `default image (${DEFAULT_IMAGE_NAME}); omit IMAGE to use it`,
  );
}
