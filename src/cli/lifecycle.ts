/** `boxlite create`, `start`, `stop`, `restart`, `pause`, `unpause`, `suspend` and `resume`: boxes that live in the background. */
import type { BoxliteApi } from "../runtime/api.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseInteger } from "../util/flags.ts";
import { parseOptions } from "./args.ts";
import { out, warn } from "./output.ts";
import { pullProgress } from "./progress.ts";
import { parseRunArgs } from "./run.ts";

export const CREATE_USAGE = `Usage: boxlite create [OPTIONS] [IMAGE] [-- COMMAND [ARG...]]

Create a box (pulling IMAGE when needed) without starting it, and print its id. It takes
the options of 'boxlite run' except -i, -t and -d; 'boxlite start' runs it.
`;

export const START_USAGE = `Usage: boxlite start BOX [BOX...]

Start stored boxes in the background: each boots and runs its main command again (its
files are as they were) — a suspended box is resumed instead, where it was. Prints each
id once the box runs.
`;

export const STOP_USAGE = `Usage: boxlite stop [-t SECONDS] BOX [BOX...]

Stop running boxes: SIGTERM to the main command, then after the grace period the box
powers off (the command is killed, exit code 137). A stopped box is left as it is; a
suspended one loses its saved state (its next start boots it).

Options:
  -t, --time SECONDS   Grace period (default 10)
`;

export const RESTART_USAGE = `Usage: boxlite restart [-t SECONDS] BOX [BOX...]

Stop (as 'boxlite stop') and start boxes again.

Options:
  -t, --time SECONDS   Grace period for the stop (default 10)
`;

export const PAUSE_USAGE = `Usage: boxlite pause BOX [BOX...]

Pause running boxes: each box's VM stops where it is (its processes and memory kept,
nothing in it runs) until 'boxlite unpause'. exec, cp and attach are refused meanwhile;
'boxlite stop' and 'boxlite rm -f' still work. Prints each id.
`;

export const UNPAUSE_USAGE = `Usage: boxlite unpause BOX [BOX...]

Let paused boxes go on where they stopped. Prints each id.
`;

export const SUSPEND_USAGE = `Usage: boxlite suspend BOX [BOX...]

Suspend running (or paused) boxes: each box's whole state — its memory, its processes —
is written to its directory and its VM ends, freeing its memory. The box is then stopped
(suspended): 'boxlite resume' or 'boxlite start' brings it back where it was, also after
a reboot. QEMU only; a box with volumes cannot be suspended. Prints each id.
`;

export const RESUME_USAGE = `Usage: boxlite resume BOX [BOX...]

Bring suspended boxes back where they were: their processes go on from the moment they
were suspended. A box that is not suspended is refused (start it with 'boxlite start').
Prints each id once the box runs.
`;

const STOP_OPTIONS = { time: { type: "string", short: "t" }, help: { type: "boolean", short: "h" } } as const;
const BOXES_OPTIONS = { help: { type: "boolean", short: "h" } } as const;

export async function createCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const parsed = parseRunArgs(argv, "create");
  if (parsed === "help") {
    void out(CREATE_USAGE);
    return 0;
  }
  void out(`${await runtime.create(parsed.options, pullProgress())}\n`);
  return 0;
}

/** Runs `action` for each box, printing ids; failures are reported and make the exit code 1. */
async function eachBox(boxes: string[], command: string, action: (box: string) => Promise<string>): Promise<number> {
  if (boxes.length === 0) throw new BoxliteError("usage", `${command} needs at least one BOX; see 'boxlite ${command} --help'`);
  let failed = false;
  for (const box of boxes) {
    try {
      void out(`${await action(box)}\n`);
    } catch (error) {
      if (!(error instanceof BoxliteError)) throw error;
      warn(error.message);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

/** A command whose only arguments are BOXes, each given to `action` in turn (start, pause, unpause, suspend, resume). */
function boxesCommand(name: string, usage: string, action: (runtime: BoxliteApi, box: string) => Promise<string>) {
  return async (runtime: BoxliteApi, argv: string[]): Promise<number> => {
    const { values, positionals } = parseOptions(name, BOXES_OPTIONS, argv, true);
    if (values.help) {
      void out(usage);
      return 0;
    }
    return eachBox(positionals, name, (box) => action(runtime, box));
  };
}

export const startCommand = boxesCommand("start", START_USAGE, (runtime, box) => runtime.start(box));
export const pauseCommand = boxesCommand("pause", PAUSE_USAGE, (runtime, box) => runtime.pause(box));
export const unpauseCommand = boxesCommand("unpause", UNPAUSE_USAGE, (runtime, box) => runtime.unpause(box));
export const suspendCommand = boxesCommand("suspend", SUSPEND_USAGE, (runtime, box) => runtime.suspend(box));
export const resumeCommand = boxesCommand("resume", RESUME_USAGE, (runtime, box) => runtime.resume(box));

function stopTimeout(value: string | undefined): number | undefined {
  const seconds = parseInteger("--time", value);
  if (seconds !== undefined && seconds < 0) throw new BoxliteError("usage", "--time must be 0 or more seconds");
  return seconds === undefined ? undefined : seconds * 1000;
}

export async function stopCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("stop", STOP_OPTIONS, argv, true);
  if (values.help) {
    void out(STOP_USAGE);
    return 0;
  }
  const timeoutMs = stopTimeout(values.time);
  return eachBox(positionals, "stop", (box) => runtime.stop(box, timeoutMs === undefined ? {} : { timeoutMs }));
}

export async function restartCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const { values, positionals } = parseOptions("restart", STOP_OPTIONS, argv, true);
  if (values.help) {
    void out(RESTART_USAGE);
    return 0;
  }
  const timeoutMs = stopTimeout(values.time);
  return eachBox(positionals, "restart", async (box) => runtime.start(await runtime.stop(box, timeoutMs === undefined ? {} : { timeoutMs })));
}
