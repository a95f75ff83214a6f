/**
 * boxlite's scripting API, for Bun programs:
 *
 *   import { Boxlite } from "boxlite";
 *   const run = await Boxlite.open().run({ cmd: ["echo", "hi"], autoRemove: true },
 *     { onStdout: (b) => process.stdout.write(b), onStderr: (b) => process.stderr.write(b) });
 *   const { code } = await run.done;
 *
 * `connect({ url })` gives the same interface (BoxliteApi) over a `boxlite serve`:
 *
 *   const boxes = await connect({ url: "http://127.0.0.1:8100" }).listBoxes({ all: true });
 */
import { RemoteBoxlite } from "./api/client.ts";
import { loadConfig } from "./config/config.ts";
import type { BoxliteApi } from "./runtime/api.ts";
import { Boxlite } from "./runtime/boxlite.ts";

export { Boxlite, type RuntimeInfo } from "./runtime/boxlite.ts";
export type { BoxOptions, NetworkOptions } from "./model/box-options.ts";
export type { RunOptions } from "./runtime/options.ts";
export type { VolumeRecord } from "./runtime/named-volumes.ts";
export type { BoxRun } from "./runtime/run.ts";
export type { MainAttachment } from "./guest-protocol/main-session.ts";
export type { ExecHandlers, ExitStatus, GuestExecution } from "./guest-protocol/execution.ts";
export { BoxliteError, type ErrorCode } from "./util/errors.ts";
export { RemoteBoxlite } from "./api/client.ts";
export type { BoxliteApi, ExecSession, ExecutionHandle, PullResult, RunSession } from "./runtime/api.ts";

/**
 * The runtime to use: the server at `url` (its key from $BOXLITE_API_KEY, or `apiKey`)
 * when given, else the home (`home`, else $BOXLITE_HOME or ~/.boxlite). Only the option
 * switches: $BOXLITE_URL is the CLI's, not read here.
 */
export function connect(options: { url?: string; home?: string; apiKey?: string } = {}): BoxliteApi {
  if (options.url === undefined) return Boxlite.open({ home: options.home });
  return new RemoteBoxlite(options.url, options.apiKey ?? loadConfig().apiKey);
}
