/**
 * Command-line parsing on node:util's parseArgs, with docker's rule for commands that
 * run something: options end at the first operand (the IMAGE) or at `--`, and
 * everything after belongs to the command in the box, dashes and all.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { BoxliteError } from "../util/errors.ts";

export type OptionsSpec = NonNullable<ParseArgsConfig["options"]>;

export interface SplitArgs {
  /** The tokens that are boxlite's own options. */
  own: string[];
  /** The first operand before `--`, if any (for `run`: the IMAGE). */
  operand?: string;
  /** Everything after the operand or `--`. */
  rest: string[];
}

function takesValue(spec: OptionsSpec, name: string | undefined): boolean {
  return name !== undefined && spec[name]?.type === "string";
}

function longName(spec: OptionsSpec, short: string): string | undefined {
  return Object.entries(spec).find(([, option]) => option.short === short)?.[0];
}

/** Splits argv where boxlite's options end (see the module comment). */
export function splitAtOperand(spec: OptionsSpec, argv: string[]): SplitArgs {
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i] as string;
    if (token === "--") return { own: argv.slice(0, i), rest: argv.slice(i + 1) };
    if (token.startsWith("--")) {
      if (!token.includes("=") && takesValue(spec, token.slice(2))) i++;
      continue;
    }
    if (token.startsWith("-") && token.length > 1) {
      // A group of short flags; one that takes a value ends the group (-eK=V) or takes the next token.
      for (let j = 1; j < token.length; j++) {
        if (!takesValue(spec, longName(spec, token[j] as string))) continue;
        if (j === token.length - 1) i++;
        break;
      }
      continue;
    }
    const rest = argv.slice(i + 1);
    return { own: argv.slice(0, i), operand: token, rest: rest[0] === "--" ? rest.slice(1) : rest };
  }
  return { own: argv, rest: [] };
}

/** parseArgs with errors turned into usage errors that say what to do. */
export function parseOptions<T extends OptionsSpec>(command: string, spec: T, argv: string[], allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options: spec, strict: true, allowPositionals });
  } catch (cause) {
    const detail = (cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause)).replace(/\.$/, "");
    throw new BoxliteError("usage", `${detail}. See 'boxlite ${command} --help'`, { cause });
  }
}

/** The process flags `run` and `exec` share (docker's ProcessFlags). */
export const PROCESS_OPTIONS = {
  interactive: { type: "boolean", short: "i" },
  tty: { type: "boolean", short: "t" },
  env: { type: "string", short: "e", multiple: true },
  workdir: { type: "string", short: "w" },
  user: { type: "string", short: "u" },
} as const satisfies OptionsSpec;
