/** `boxlite clone BOX [--name NAME] [--count N]`: new stopped boxes with a copy of a box's disk and settings. */
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out, printJson } from "./output.ts";

export const CLONE_USAGE = `Usage: boxlite clone [--name NAME] [--count N] [--json] BOX

Make new boxes from BOX: each gets a copy of its disk as it is now and its settings, and
is left stopped ('boxlite start' boots it). A running box is paused for a moment. Prints
the new boxes' ids, one per line.

Options:
      --name NAME   Name the clone; with --count, NAME-1 … NAME-N
      --count N     Make N clones (default 1)
      --json        Print the ids as a JSON array
`;

const OPTIONS = { name: { type: "string" }, count: { type: "string" }, json: { type: "boolean" }, help: { type: "boolean", short: "h" } } as const;

function parseCount(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^[0-9]+$/.test(text) || Number(text) < 1)
    throw new BoxliteError("usage", `--count ${JSON.stringify(text)} is not a whole number of clones (1 or more)`);
  return Number(text);
}

export async function cloneCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("clone", OPTIONS, argv, true);
  if (values.help) {
    void out(CLONE_USAGE);
    return 0;
  }
  const [box, ...extra] = positionals;
  if (box === undefined || extra.length > 0) throw new BoxliteError("usage", "clone takes one BOX; see 'boxlite clone --help'");
  const count = parseCount(values.count);
  const ids = await runtime.cloneBox(box, { ...(values.name !== undefined ? { name: values.name } : {}), ...(count !== undefined ? { count } : {}) });
  if (values.json) printJson(ids);
  else void out(ids.map((id) => `${id}\n`).join(""));
  return 0;
}
