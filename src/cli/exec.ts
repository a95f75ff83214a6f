/** `boxlite exec`: run another command in a running box, streamed, exiting with its code. */
import type { BoxliteApi } from "../runtime/api.ts";
import type { ExecOptions } from "../runtime/exec.ts";
import { BoxliteError } from "../util/errors.ts";
import { parseInteger } from "../util/flags.ts";
import { type OptionsSpec, parseOptions, PROCESS_OPTIONS, splitAtOperand } from "./args.ts";
import { attachExecution } from "./attach.ts";
import { out, warn, writeTo } from "./output.ts";
import { terminalSize } from "./terminal.ts";

export const EXEC_USAGE = `Usage: boxlite exec [OPTIONS] BOX [--] COMMAND [ARG...]

Run COMMAND in a running box (by id, unique id prefix or name), with the box's
environment, working directory and user unless overridden, and exit with its code.

Options:
  -i, --interactive        Keep stdin open and forward it to the command
  -t, --tty                Allocate a pseudo-terminal (implies -i)
  -e, --env KEY=VALUE      Set an environment variable (repeatable)
  -w, --workdir DIR        Working directory inside the box
  -u, --user USER[:GROUP]  User (name or uid) and group to run as
  -d, --detach             Start the command and return; it keeps running
      --timeout SECONDS    SIGTERM the command after SECONDS (SIGKILL 2 s later); exit 124
`;

const TIMED_OUT_EXIT_CODE = 124;

const OPTIONS = {
  ...PROCESS_OPTIONS,
  detach: { type: "boolean", short: "d" },
  timeout: { type: "string" },
  help: { type: "boolean", short: "h" },
} as const satisfies OptionsSpec;

export async function execCommand(runtime: BoxliteApi, argv: string[]): Promise<number> {
  const split = splitAtOperand(OPTIONS, argv);
  const { values } = parseOptions("exec", OPTIONS, split.own);
  if (values.help) {
    void out(EXEC_USAGE);
    return 0;
  }
  if (split.operand === undefined) throw new BoxliteError("usage", "exec needs a BOX and a COMMAND; see 'boxlite exec --help'");
  if (values.tty && !process.stdin.isTTY) throw new BoxliteError("usage", "the input device is not a TTY; run without -t (use -i to forward stdin)");
  if (values.detach && (values.tty || values.interactive)) throw new BoxliteError("usage", "-d cannot be combined with -i or -t: nobody would be attached");
  const options: ExecOptions = { command: split.rest, env: values.env ?? [], stdin: Boolean(values.interactive || values.tty), detach: Boolean(values.detach) };
  if (values.workdir !== undefined) options.workdir = values.workdir;
  if (values.user !== undefined) options.user = values.user;
  if (values.tty) options.tty = terminalSize();
  const timeout = parseInteger("--timeout", values.timeout);
  if (timeout !== undefined) {
    if (timeout < 1) throw new BoxliteError("usage", "--timeout needs 1 or more seconds");
    options.timeoutMs = timeout * 1000;
  }
  const exec = await runtime.exec(split.operand, options, { onStdout: writeTo(process.stdout), onStderr: writeTo(process.stderr) });
  if (options.detach) {
    // Detached: once the command exists, leave it to the box.
    await exec.execution.started.promise;
    exec.close();
    return 0;
  }
  const code = await attachExecution(exec.execution, exec.done, { tty: values.tty === true, stdin: options.stdin === true });
  if (!(await exec.done).timedOut) return code;
  // As coreutils' timeout reports it.
  warn(`the command timed out after ${timeout} s and was stopped`);
  return TIMED_OUT_EXIT_CODE;
}
