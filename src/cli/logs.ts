/** `boxlite logs [-f] [-n N] BOX`: the box's console (kernel and guest agent), not its commands' output. */
import { isActiveStatus } from "../model/box-state.ts";
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseInteger } from "../util/flags.ts";
import { parseOptions } from "./args.ts";
import { out } from "./output.ts";

export const LOGS_USAGE = `Usage: boxlite logs [-f] [-n N] BOX

Print the box's console log: what its kernel and guest agent wrote (not the output of
commands, which goes to their caller). A BOX is an id, a unique id prefix or a name.

Options:
  -n, --tail N    Only the last N lines (0: all, the default)
  -f, --follow    Keep printing new lines while the box runs
`;

const OPTIONS = {
  tail: { type: "string", short: "n" },
  follow: { type: "boolean", short: "f" },
  help: { type: "boolean", short: "h" },
} as const;

/** How often -f looks for new bytes and for the box having stopped. */
const FOLLOW_INTERVAL_MS = 200;

export function lastLines(text: string, count: number): string {
  if (count <= 0) return text;
  const lines = text.split("\n");
  const trailingNewline = lines.at(-1) === "";
  if (trailingNewline) lines.pop();
  return lines.slice(-count).join("\n") + (trailingNewline && lines.length > 0 ? "\n" : "");
}

export async function logsCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("logs", OPTIONS, argv, true);
  if (values.help) {
    void out(LOGS_USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new BoxliteError("usage", "logs needs exactly one BOX; see 'boxlite logs --help'");
  const tail = parseInteger("--tail", values.tail) ?? 0;
  if (tail < 0) throw new BoxliteError("usage", "--tail must be 0 (all) or a positive number of lines");
  const box = await runtime.getBox(positionals[0] as string);
  const file = Bun.file(runtime.consoleLogPath(box.box_id));
  const text = (await file.exists()) ? await file.text() : "";
  void out(lastLines(text, tail));
  if (!values.follow) return 0;
  let offset = Buffer.byteLength(text);
  for (;;) {
    await Bun.sleep(FOLLOW_INTERVAL_MS);
    const size = (await file.exists()) ? file.size : 0;
    if (size > offset) {
      await out(await file.slice(offset, size).bytes());
      offset = size;
    }
    const current = await runtime.getBox(box.box_id).catch(() => undefined);
    if (!current || !isActiveStatus(current.status)) return 0;
  }
}
