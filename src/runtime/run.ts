/**
 * `run` in the foreground: create a box, then start it in this process with the main
 * command's streams wired to the caller (attached before anyone else can attach). The box
 * lives as long as its main command; an auto-remove box is removed on every path,
 * failures included.
 */
import type { ExecHandlers, ExitStatus } from "../guest-protocol/execution.ts";
import type { MainAttachment } from "../guest-protocol/main-session.ts";
import type { PullEvent } from "../image/pull.ts";
import { BoxliteError } from "../util/errors.ts";
import { boxLayout } from "./box-layout.ts";
import { isSuspended } from "./box-memory.ts";
import { createBox } from "./create.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import type { RunOptions } from "./options.ts";
import { startBox } from "./session.ts";

export interface BoxRun {
  id: string;
  /** The main command: stdin, signals, resize, its start and its exit. */
  execution: MainAttachment;
  /** Settles after the command exited and the VM is gone (and the box removed with autoRemove). */
  done: Promise<ExitStatus>;
  /** Stops the box as `boxlite stop` does: SIGTERM, then power-off after the grace period. */
  stop(timeoutMs?: number): void;
}

function endedWithoutExit(home: Home, id: string): BoxliteError {
  if (isSuspended(boxLayout(home.config, id).dir))
    return new BoxliteError("conflict", `box ${id} was suspended while its command ran; 'boxlite resume ${id}' brings it back (in the background)`);
  return new BoxliteError("internal", `box ${id} stopped before its main command started`);
}

export async function startRun(home: Home, options: RunOptions, handlers: ExecHandlers, onPull?: (event: PullEvent) => void): Promise<BoxRun> {
  const { stdin, ttySize, ...boxOptions } = options;
  // A foreground run's box ends with it: not detached.
  const id = await createBox(home, { ...boxOptions, detach: boxOptions.detach ?? false }, onPull);
  try {
    const session = await startBox(home, id, {
      operation: "run",
      attach: { client: handlers, stdin: stdin ?? false, ...(options.tty && ttySize ? { size: ttySize } : {}) },
    });
    const execution = session.attachment;
    if (!execution) throw new BoxliteError("internal", `box ${id} started without its terminal attached`);
    // Started at once (no hold): only a suspend ends the box without its main command's exit.
    const done = session.done.then((status) => status ?? Promise.reject(endedWithoutExit(home, id)));
    return { id, execution, done, stop: (timeoutMs) => session.stop(timeoutMs) };
  } catch (error) {
    // startBox removed an auto-remove box already when it got as far as its lock.
    if (options.autoRemove) discardBox(home.config, home.database, id);
    throw error;
  }
}
