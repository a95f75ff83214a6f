/**
 * Attaching to a running box's main command from any process, through the box's owner
 * (the box socket's ATTACH, docs/guest-protocol.md): its output from now on, its stdin,
 * signals and terminal size; and START, which runs a held main command. The REST server's
 * `GET /v1/boxes/{id}/attach` is built on these.
 */
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
import type { AttachedMessage } from "../guest-protocol/messages.ts";
import { decideFor } from "./box-facts.ts";
import { connectBox } from "./box-socket.ts";
import { readyBox } from "./lifecycle.ts";
import { resolveReconciled } from "./reconcile.ts";
import type { Home } from "./home.ts";
import { BoxliteError } from "../util/errors.ts";

export interface MainConnection {
  /** The main command as seen through the owner: stdin, signals, resize, its start and exit. */
  execution: GuestExecution;
  /** The owner's answer: whether the command is held, runs or has exited, and whether it has a terminal. */
  attached: AttachedMessage;
  /** Settles with the main command's exit; the connection is closed then. */
  done: Promise<ExitStatus>;
  /** Starts a held main command, after everything sent on this connection before (a resize, say). */
  start(): void;
  /** Detaches: the main command runs on. */
  close(): void;
}

/**
 * Attaches to the main command of a box, booting it held first when it is not running
 * (its main command then waits for `startMain`); `conflict` when another client is attached.
 */
export async function attachMain(home: Home, idOrName: string, handlers: ExecHandlers): Promise<MainConnection> {
  const box = await readyBox(home, idOrName, "attach");
  const channel = await connectBox(home, box);
  const execution = channel.attachMain(handlers);
  let attached: AttachedMessage;
  try {
    attached = await execution.attached.promise;
  } catch (error) {
    // Refused: the stream's exit rejects with the same error, which nobody awaits.
    execution.exit.promise.catch(() => {});
    channel.close();
    throw error;
  }
  const done = execution.exit.promise.finally(() => channel.close());
  done.catch(() => {});
  return { execution, attached, done, start: () => channel.startMain(), close: () => channel.close() };
}

/** Starts the held main command of a running box (nothing happens when it already started). */
export async function startMain(home: Home, idOrName: string): Promise<void> {
  const box = resolveReconciled(home.config, home.database, idOrName);
  // Only a running box has an owner to ask; any other is answered by the state machine.
  if (decideFor(box, "start") !== "noop")
    throw new BoxliteError("conflict", `box ${box.id} is ${box.status}: its main command can only be started in a running box`);
  const channel = await connectBox(home, box);
  channel.startMain();
  channel.close();
}
