/** `boxlite import FILE [--name NAME]`: a new box from a .boxlite archive. */
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out, printJson } from "./output.ts";

export const IMPORT_USAGE = `Usage: boxlite import [--name NAME] [--json] FILE

Make a new, stopped box from a .boxlite archive ('boxlite export' writes them) and print
its id. The archive of a suspended box makes a suspended box: 'boxlite resume' brings it
back where it was. Against a server (--url) the archive is uploaded and imported as untrusted: its
security settings give way to the server's defaults.

Options:
      --name NAME   Name the box (default: none)
      --json        Print {"id": …} as JSON
`;

const OPTIONS = { name: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

export async function importCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("import", OPTIONS, argv, true);
  if (values.help) {
    void out(IMPORT_USAGE);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (file === undefined || extra.length > 0) throw new BoxliteError("usage", "import takes one FILE; see 'boxlite import --help'");
  const id = await runtime.importBox(file, values.name !== undefined ? { name: values.name } : {});
  if (values.json) printJson({ id });
  else void out(`${id}\n`);
  return 0;
}
