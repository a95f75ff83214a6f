/**
 * boxlite's scripting API, for Bun programs:
 *
 *   import { Boxlite } from "boxlite";
 *   const run = await Boxlite.open().run({ command: ["echo", "hi"], autoRemove: true },
 *     { onStdout: (b) => process.stdout.write(b), onStderr: (b) => process.stderr.write(b) });
 *   const { code } = await run.done;
 */
export { Boxlite, type RuntimeInfo } from "./runtime/boxlite.ts";
export type { RunOptions } from "./runtime/options.ts";
export type { BoxRun } from "./runtime/run.ts";
export type { ExecHandlers, ExitStatus, GuestExecution } from "./guest-protocol/execution.ts";
export { BoxliteError, type ErrorCode } from "./util/errors.ts";
