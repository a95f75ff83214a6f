/**
 * `run` in the foreground: create a box, then start it in this process with the main
 * command's streams wired to the caller. The box lives as long as its main command; an
 * auto-remove box is removed on every path, failures included.
 */
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import type { PullEvent } from "../image/pull.ts";
import { createBox } from "./create.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import type { RunOptions } from "./options.ts";
import { startBox } from "./session.ts";

export interface BoxRun {
  id: string;
  execution: GuestExecution;
  /** Settles after the command exited and the VM is gone (and the box removed with autoRemove). */
  done: Promise<ExitStatus>;
  /** Stops the box as `boxlite stop` does: SIGTERM, then power-off after the grace period. */
  stop(timeoutMs?: number): void;
}

export async function startRun(home: Home, options: RunOptions, handlers: ExecHandlers, onPull?: (event: PullEvent) => void): Promise<BoxRun> {
  const id = await createBox(home, options, onPull);
  try {
    const session = await startBox(home, id, { handlers, tty: options.tty, stdin: options.stdin, operation: "run" });
    return { id, execution: session.execution, done: session.done, stop: (timeoutMs) => session.stop(timeoutMs) };
  } catch (error) {
    // startBox removed an auto-remove box already when it got as far as its lock.
    if (options.autoRemove) discardBox(home.config, home.database, id);
    throw error;
  }
}
