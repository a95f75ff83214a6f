/** `boxlite rm [-f] BOX...` and `boxlite rm -a -f`: remove boxes, their disks and records. */
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseOptions } from "./args.ts";
import { out, warn } from "./output.ts";

export const RM_USAGE = `Usage: boxlite rm [-f] BOX [BOX...]
       boxlite rm -a -f

Remove boxes: their records, disks and logs. A BOX is an id, a unique id prefix or a name.

Options:
  -f, --force   Also remove boxes whose VM is running (it is killed)
  -a, --all     Remove every box (needs -f, so that it is never an accident)
`;

async function exists(runtime: BoxliteApi, id: string): Promise<boolean> {
  return runtime.getBox(id).then(
    () => true,
    (error: unknown) => !(error instanceof BoxliteError && error.code === "not_found"),
  );
}

const OPTIONS = {
  force: { type: "boolean", short: "f" },
  all: { type: "boolean", short: "a" },
  help: { type: "boolean", short: "h" },
} as const;

export async function rmCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("rm", OPTIONS, argv, true);
  if (values.help) {
    void out(RM_USAGE);
    return 0;
  }
  if (values.all && !values.force) throw new BoxliteError("usage", "rm -a removes every box; add -f to confirm");
  if (values.all && positionals.length > 0) throw new BoxliteError("usage", "rm -a takes no BOX arguments");
  const targets = values.all ? (await runtime.listBoxes({ all: true })).map((box) => box.box_id) : positionals;
  if (!values.all && targets.length === 0) throw new BoxliteError("usage", "rm needs at least one BOX; see 'boxlite rm --help'");
  let failed = false;
  for (const target of targets) {
    try {
      void out(`${await runtime.removeBox(target, { force: Boolean(values.force) })}\n`);
    } catch (error) {
      if (!(error instanceof BoxliteError)) throw error;
      // rm -a wants every box gone: one that another process removed meanwhile is.
      if (values.all && !(await exists(runtime, target))) continue;
      warn(error.message);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}
