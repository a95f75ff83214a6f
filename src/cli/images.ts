/** `boxlite pull`, `boxlite images` and `boxlite rmi`: the home's image cache. */
import type { BoxliteApi } from "../runtime/api.ts";
import type { ImageInfo } from "../runtime/images.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out, printColumns, printJson, warn } from "./output.ts";
import { formatBytes, pullProgress } from "./progress.ts";

export const PULL_USAGE = `Usage: boxlite pull [-q] IMAGE

Download IMAGE into the home's cache (nothing is fetched when it is cached already).
An unqualified name (alpine) is looked up on each --registry, then the --config file's
search registries, then docker.io.

Options:
  -q, --quiet   Print only the config digest
`;

export const IMAGES_USAGE = `Usage: boxlite images [-q] [--json]

List the cached images.

Options:
  -q, --quiet   Print only image ids (manifest digests)
      --json    Print JSON
`;

export const RMI_USAGE = `Usage: boxlite rmi [-f] IMAGE [IMAGE...]

Remove cached images (by reference or id). Layers and base disks another image or a
box still uses are kept.

Options:
  -f, --force   Remove even when boxes were created from the image (they keep working)
`;

const PULL_OPTIONS = { quiet: { type: "boolean", short: "q" }, help: { type: "boolean", short: "h" } } as const;
const IMAGES_OPTIONS = { quiet: { type: "boolean", short: "q" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;
const RMI_OPTIONS = { force: { type: "boolean", short: "f" }, help: { type: "boolean", short: "h" } } as const;

export async function pullCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("pull", PULL_OPTIONS, argv, true);
  if (values.help) {
    void out(PULL_USAGE);
    return 0;
  }
  const [reference, ...extra] = positionals;
  if (reference === undefined || extra.length > 0) throw new BoxliteError("usage", "pull takes one IMAGE; see 'boxlite pull --help'");
  const image = await runtime.pullImage(reference, values.quiet ? undefined : pullProgress());
  // A server answers the manifest digest only: no config digest, no layers.
  if (values.quiet) void out(`${image.configDigest ?? image.manifestDigest}\n`);
  else
    void out(
      `Pulled: ${image.reference}${image.cached ? " (cached)" : ""}\nDigest: ${image.manifestDigest}\n${image.layers ? `Layers: ${image.layers.length}\n` : ""}`,
    );
  return 0;
}

/** An image's table cells; a size the server did not say is "-". */
export function imageRow(image: ImageInfo): string[] {
  return [image.repository, image.tag, image.id.replace(/^sha256:/, "").slice(0, 12), image.cached_at, image.size === null ? "-" : formatBytes(image.size)];
}

export async function imagesCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values } = parseOptions("images", IMAGES_OPTIONS, argv);
  if (values.help) {
    void out(IMAGES_USAGE);
    return 0;
  }
  const images = await runtime.listImages();
  if (values.json) printJson(images);
  else if (values.quiet) void out(images.map((image) => `${image.id}\n`).join(""));
  else {
    printColumns(["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"], images.map(imageRow));
  }
  return 0;
}

export async function rmiCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("rmi", RMI_OPTIONS, argv, true);
  if (values.help) {
    void out(RMI_USAGE);
    return 0;
  }
  if (positionals.length === 0) throw new BoxliteError("usage", "rmi needs at least one IMAGE; see 'boxlite rmi --help'");
  let failed = false;
  for (const target of positionals) {
    try {
      for (const removed of await runtime.removeImage(target, { force: Boolean(values.force) })) void out(`Untagged: ${removed}\n`);
    } catch (error) {
      if (!(error instanceof BoxliteError)) throw error;
      warn(error.message);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
