/**
 * `exec`: another command in a running box, through its box socket (the process that owns
 * the box relays it onto the guest channel). As with docker, the command gets the box's
 * environment (image, then `run -e`, then `exec -e`), working directory and user unless
 * told otherwise, and never re-runs the main command.
 */
import { imageOf } from "../db/box-summaries.ts";
import { resolveBox } from "../db/boxes.ts";
import { GuestChannel } from "../guest-protocol/client.ts";
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import { BoxliteError } from "../util/errors.ts";
import { boxLayout } from "./box-layout.ts";
import { runOptionsOf } from "./box-record.ts";
import { boxImage } from "./create.ts";
import type { Home } from "./home.ts";
import { processSpec } from "./options.ts";

export interface ExecOptions {
  command: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  tty?: { rows: number; cols: number };
  stdin?: boolean;
  /** Keep the command running after this process goes (its output is discarded). */
  detach?: boolean;
}

export interface BoxExec {
  execution: GuestExecution;
  /** Settles with the command's exit; the connection is closed then. */
  done: Promise<ExitStatus>;
  /** Closes the connection (a detached command keeps running). */
  close(): void;
}

/** How long the box's owner may take to answer on the box socket. */
const CONNECT_TIMEOUT_MS = 10_000;

export async function execInBox(home: Home, idOrName: string, options: ExecOptions, handlers: ExecHandlers): Promise<BoxExec> {
  if (options.command.length === 0) throw new BoxliteError("usage", "exec needs a command after the box; see 'boxlite exec --help'");
  const box = resolveBox(home.database.db, idOrName);
  if (!box) throw new BoxliteError("not_found", `no box ${JSON.stringify(idOrName)}; see 'boxlite ls -a'`);
  if (box.status !== "running") {
    throw new BoxliteError("conflict", `box ${box.id} is ${box.status}, not running; start it with 'boxlite start ${box.name ?? box.id}' (that runs its main command again)`);
  }
  const run = runOptionsOf(box.config);
  const image = await boxImage(home, box.id, imageOf(box.config.options.rootfs));
  const spec = processSpec(
    { command: options.command, entrypoint: [], env: [...(run.env ?? []), ...(options.env ?? [])], workdir: options.workdir ?? run.workdir, user: options.user ?? run.user, ...(options.tty ? { tty: options.tty } : {}) },
    image.config,
    box.id.slice(-12),
  );
  const layout = boxLayout(home.config, box.id);
  let channel: GuestChannel;
  try {
    ({ channel } = await GuestChannel.connect(layout.boxSocket, { timeoutMs: CONNECT_TIMEOUT_MS, vmExited: new Promise(() => {}) }));
  } catch (cause) {
    throw new BoxliteError("conflict", `box ${box.id} is recorded as running but does not answer on ${layout.boxSocket}; see 'boxlite ls -a'`, { cause });
  }
  const execution = channel.exec({ ...spec, create_cwd: false, tty: options.tty ?? null, stdin: options.stdin ?? false, detach: options.detach ?? false }, handlers);
  const done = execution.exit.promise.finally(() => channel.close());
  return { execution, done, close: () => channel.close() };
}
