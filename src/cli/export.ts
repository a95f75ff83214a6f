/** `boxlite export BOX [-o FILE]`: a box as a portable .boxlite archive. */
import { resolve } from "node:path";
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out, printJson } from "./output.ts";

export const EXPORT_USAGE = `Usage: boxlite export [-o FILE] [--json] BOX

Write BOX (its disk and settings) as a .boxlite archive that 'boxlite import' reads, and
print the archive's path. A running box is paused for a moment. A suspended box's archive
carries its memory too: imported, the box resumes where it was.

Options:
  -o, --output FILE   Where to write it: a file, or a directory to write
                      <name>.boxlite in (default: ./<name or id>.boxlite)
      --json          Print {"path": …} as JSON
`;

const OPTIONS = { output: { type: "string", short: "o" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

export async function exportCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("export", OPTIONS, argv, true);
  if (values.help) {
    void out(EXPORT_USAGE);
    return 0;
  }
  const [ref, ...extra] = positionals;
  if (ref === undefined || extra.length > 0) throw new BoxliteError("usage", "export takes one BOX; see 'boxlite export --help'");
  if (values.output === "") throw new BoxliteError("usage", "-o needs a file or directory");
  let dest = values.output;
  if (dest === undefined) {
    const box = await runtime.getBox(ref);
    dest = `${box.name ?? box.box_id}.boxlite`;
  }
  const path = await runtime.exportBox(ref, resolve(dest));
  if (values.json) printJson({ path });
  else void out(`${path}\n`);
  return 0;
}
