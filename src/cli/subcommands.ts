/** Command groups (`boxlite volume …`, `boxlite snapshot …`): one dispatcher, one usage rule. */
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { out } from "./output.ts";

export type Subcommand = (runtime: BoxliteApi, argv: string[]) => Promise<number>;

/** Prints a usage text asked for with --help: exit 0. */
export function printUsage(text: string): number {
  void out(text);
  return 0;
}

/** Runs `boxlite GROUP SUB ARGS…`: no SUB prints the group's usage and exits 2, an unknown one is a usage error. */
export async function runSubcommand(group: string, usage: string, table: Record<string, Subcommand>, runtime: BoxliteApi, argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined) {
    void out(usage);
    return 2;
  }
  if (name === "--help" || name === "-h" || name === "help") return printUsage(usage);
  const subcommand = table[name];
  if (!subcommand) throw new BoxliteError("usage", `unknown ${group} command ${JSON.stringify(name)}; see 'boxlite ${group} --help'`);
  return subcommand(runtime, rest);
}
