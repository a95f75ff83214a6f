/** `boxlite cp`: copy files between the host and a running box (one side is BOX:PATH). */
import type { BoxliteApi } from "../runtime/api.ts";
import { parseCopyTarget } from "../runtime/copy.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out } from "./output.ts";

export const CP_USAGE = `Usage: boxlite cp [OPTIONS] BOX:SRC DEST
       boxlite cp [OPTIONS] SRC BOX:DEST

Copy files and directories between the host and a running box, as docker cp does:
into an existing directory under the source's name, to a new path under that name, and
SRC/. copies a directory's contents. Paths in the box resolve inside it (symlinks and ..
cannot leave it). Write ./NAME for a host path with a colon in it.

Options:
  -L, --follow-symlinks   Follow SRC when it is a symlink
      --no-overwrite      Refuse to replace existing files in the box
`;

const OPTIONS = {
  "follow-symlinks": { type: "boolean", short: "L" },
  "no-overwrite": { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function cpCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("cp", OPTIONS, argv, true);
  if (values.help) {
    void out(CP_USAGE);
    return 0;
  }
  const [from, to, ...extra] = positionals;
  if (from === undefined || to === undefined || extra.length > 0) throw new BoxliteError("usage", "cp takes a SRC and a DEST; see 'boxlite cp --help'");
  const source = parseCopyTarget(from);
  const destination = parseCopyTarget(to);
  const options = { followSymlinks: values["follow-symlinks"] === true, noOverwrite: values["no-overwrite"] === true };
  if ("box" in source && "host" in destination) await runtime.copyFromBox(source.box, source.path, destination.host, options);
  else if ("host" in source && "box" in destination) await runtime.copyToBox(source.host, destination.box, destination.path, options);
  else throw new BoxliteError("usage", "cp copies between the host and a box: exactly one of SRC and DEST is BOX:PATH");
  return 0;
}
