/** `boxlite run`: boot a box, run one command in it, and exit with its exit code. */
import type { BoxliteApi } from "../runtime/api.ts";
import type { RunOptions } from "../runtime/options.ts";
import { BoxliteError } from "../util/errors.ts";
import { boxFlags, optionsFromCli } from "../model/codec.ts";
import { checkNetworkOptions } from "../model/network.ts";
import { checkVolumes } from "../model/volumes.ts";
import { DETACH_FLAG, TTY_FLAG } from "../model/fields.ts";
import { type OptionsSpec, parseOptions, splitAtOperand } from "./args.ts";
import { attachExecution } from "./attach.ts";
import { out, writeTo } from "./output.ts";
import { pullProgress } from "./progress.ts";
import { terminalSize } from "./terminal.ts";

export const RUN_USAGE = `Usage: boxlite run [OPTIONS] [IMAGE] [-- COMMAND [ARG...]]

Boot a box from IMAGE (default: the embedded busybox image), run COMMAND in it (default:
the image's), stream its output, and exit with its exit code. IMAGE is a registry
reference (pulled when not cached), oci:PATH[:TAG] (an OCI layout directory) or
docker-archive:PATH (a 'docker save' archive).

Options:
  -i, --interactive      Keep stdin open and forward it to the command
  -t, --tty              Allocate a pseudo-terminal (implies -i)
  -e, --env KEY=VALUE    Set an environment variable (repeatable)
  -w, --workdir DIR      Working directory inside the box (created when missing)
  -u, --user USER[:GROUP]  User (name or uid) and group to run as
      --cpus N           Virtual CPUs (1-255, default 1)
      --memory MIB       Memory in MiB (128-65536, default 512)
      --disk-size GB     The box's disk in GiB (1-2048, sparse; default: the image's size,
                         1 GiB free); the filesystem is grown to fill it at start
      --rm               Remove the box's files when the command ends
  -d, --detach           Run in the background and print the box id (stop it with 'boxlite stop')
      --name NAME        Name the box (unique; ls, inspect, rm and logs take it)
      --entrypoint CMD   Replace the image's ENTRYPOINT (and drop its CMD); "" clears it
      --rootfs PATH      Use an OCI layout directory or docker archive instead of IMAGE
  -v, --volume HOST:BOX[:ro|rw]  Share a host directory or file at BOX (repeatable); a relative
                         HOST is taken from the current directory (~ is not expanded);
                         -v BOX[:ro] alone: a new anonymous volume under the home
      --cap-add CAP      Add a Linux capability to docker's default set for the box's
                         commands (repeatable; any case, CAP_ optional, ALL)
      --cap-drop CAP     Drop one from it (repeatable; --cap-drop ALL keeps only the adds)

Exit status: the command's own; 125 when boxlite failed; 126 when the command cannot be
executed; 127 when it is not found; 128+N when it was killed by signal N.
`;

/** The box's own flags come from the option table (model/fields.ts); -i and --help are run's. */
const OPTIONS = {
  ...boxFlags(),
  ...TTY_FLAG,
  ...DETACH_FLAG,
  interactive: { type: "boolean", short: "i" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionsSpec;

export interface RunArgs {
  options: RunOptions;
  detach: boolean;
}

/** Parses `run` and `create` arguments (create runs nothing in the foreground: no -i, -t or -d). */
export function parseRunArgs(argv: string[], command: "run" | "create" = "run"): RunArgs | "help" {
  const split = splitAtOperand(OPTIONS, argv);
  const { values } = parseOptions(command, OPTIONS, split.own);
  if (values.help) return "help";
  if (command === "create" && (values.interactive || values.tty || values.detach)) {
    throw new BoxliteError("usage", "create takes no -i, -t or -d: the box runs in the background once started; use 'boxlite exec -it' to get a shell in it");
  }
  if (values.detach && (values.interactive || values.tty)) throw new BoxliteError("usage", "-d cannot be combined with -i or -t: nobody would be attached");
  if (values.tty && !process.stdin.isTTY) {
    throw new BoxliteError("usage", "the input device is not a TTY; run without -t (use -i to forward stdin)");
  }
  const options: RunOptions = optionsFromCli({ command, values, ...(split.operand !== undefined ? { operand: split.operand } : {}), rest: split.rest });
  // Refused as usage (exit 2) before anything is made; the runtime checks again for library callers.
  checkNetworkOptions(options.network, options.ports, "usage");
  checkVolumes(options.volumes, "usage");
  options.stdin = Boolean(values.interactive || values.tty);
  if (values.tty) options.ttySize = terminalSize();
  return { options, detach: options.detach === true };
}

export async function runCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const parsed = parseRunArgs(argv);
  if (parsed === "help") {
    void out(RUN_USAGE);
    return 0;
  }
  const { options } = parsed;
  if (parsed.detach) {
    const id = await runtime.create(options, pullProgress());
    await runtime.start(id);
    void out(`${id}\n`);
    return 0;
  }
  const run = await runtime.run(options, { onStdout: writeTo(process.stdout), onStderr: writeTo(process.stderr) }, pullProgress());
  return attachExecution(run.execution, run.done, { tty: options.tty !== undefined, stdin: options.stdin === true });
}
