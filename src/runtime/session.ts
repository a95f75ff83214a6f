/**
 * A box's life from start to stop, in the process that owns it (a foreground `run`, or a
 * box's supervisor): under the box's lock, boot the VM and serve the box socket to other
 * processes (exec, stop, attach), then run the main command — at once, or once a client
 * asks (a held start) — with its output going to at most one attached client
 * (guest-protocol/main-session.ts) and the owner's log. When it ends — by itself or by a
 * stop — power the VM off and record the exit code. Docker semantics: the box lives as
 * long as its main command.
 */
import { rmSync } from "node:fs";
import { imageOf } from "./box-view.ts";
import { getBox, updateBoxState } from "../db/boxes.ts";
import { VERSION } from "../config/version.ts";
import type { ExitStatus } from "../guest-protocol/execution.ts";
import { DEFAULT_TTY_SIZE, type MainAttachment, type MainClient, MainSession } from "../guest-protocol/main-session.ts";
import { RelayServer } from "../guest-protocol/relay.ts";
import { BoxliteError } from "../util/errors.ts";
import { lockBox } from "./box-lock.ts";
import { boxLayout } from "./box-layout.ts";
import { runOptionsOf } from "./box-record.ts";
import { type BootedBox, bootBox, withConsoleTail } from "./boot.ts";
import { boxImage } from "./create.ts";
import { discardBox } from "./discard.ts";
import type { Home } from "./home.ts";
import { checkResources, processSpec } from "./options.ts";
import { removeVmmPid, writeVmmPid } from "./vmm-pid.ts";

/** Docker's default grace between SIGTERM and SIGKILL on stop. */
export const DEFAULT_STOP_TIMEOUT_MS = 10_000;
const SIGTERM = 15;

export interface SessionOptions {
  /** Named in "box busy" errors: "run" or "start". */
  operation: string;
  /** Gets every output byte of the main command (a supervisor's `logs/main.log`). */
  log?(chunk: Uint8Array): void;
  /** Attached before any other client can be: a foreground `run`'s terminal. */
  attach?: { client: MainClient; stdin: boolean; size?: { rows: number; cols: number } };
  /** Boot and serve the box socket, but run the main command only when a client sends START. */
  hold?: boolean;
}

export interface BoxSession {
  id: string;
  main: MainSession;
  /** `options.attach`'s hold on the main command. */
  attachment: MainAttachment | undefined;
  /**
   * Settles once the VM is gone (and an auto-remove box removed): with the main command's
   * exit, or null when the box was stopped before its main command started.
   */
  done: Promise<ExitStatus | null>;
  /** SIGTERM to the main command, then after `timeoutMs` the guest powers off (killing it); a held box powers off at once. */
  stop(timeoutMs?: number): void;
}

const STARTABLE = new Set(["configured", "stopped", "failed", "unknown"]);

type Outcome = { exitCode: number | null } | { error: unknown };

export async function startBox(home: Home, id: string, options: SessionOptions): Promise<BoxSession> {
  const { config } = home;
  const { db } = home.database;
  const found = getBox(db, id);
  if (!found) throw new BoxliteError("not_found", `no box ${JSON.stringify(id)}; see 'boxlite ls -a'`);
  const lock = lockBox(config, id, options.operation);
  const record = getBox(db, id);
  if (!record || !STARTABLE.has(record.status)) {
    lock.release();
    throw new BoxliteError(
      "conflict",
      record ? `box ${id} is ${record.status}; only a configured, stopped or failed box can be started` : `box ${id} was removed by another process`,
    );
  }
  const layout = boxLayout(config, id);
  const run = runOptionsOf(record.config);
  const tty = record.config.options.tty === true;
  let box: BootedBox | undefined;
  let relay: RelayServer | undefined;
  let stopping = false;
  const finish = async (outcome: Outcome) => {
    await relay?.close();
    rmSync(layout.boxSocket, { force: true });
    // An auto-remove box's disk is deleted next, so there is nothing to sync: skip the clean power-off.
    await (run.autoRemove ? box?.kill() : box?.stop());
    removeVmmPid(layout.dir);
    const now = new Date().toISOString();
    if (run.autoRemove) discardBox(config, home.database, id);
    else if ("exitCode" in outcome)
      updateBoxState(db, id, { status: "stopped", pid: null, exit_code: outcome.exitCode, error_reason: null, last_updated: now });
    else
      updateBoxState(db, id, {
        status: "failed",
        pid: null,
        error_reason: outcome.error instanceof Error ? outcome.error.message : String(outcome.error),
        last_updated: now,
      });
    lock.release();
  };
  try {
    const image = await boxImage(home, id, imageOf(record.config.options.rootfs));
    const spec = processSpec({ ...run, ...(tty ? { tty: DEFAULT_TTY_SIZE } : {}) }, image.config, id.slice(-12));
    box = await bootBox(config, { id, image, ...checkResources(run) });
    writeVmmPid(layout.dir, box.vm.pid);
    updateBoxState(db, id, { status: "running", pid: box.vm.pid, exit_code: null, error_reason: null, last_updated: new Date().toISOString() });
    const booted = box;
    const main = new MainSession({
      tty,
      launch: (io, handlers) => booted.channel.exec({ ...spec, create_cwd: true, tty: io.tty, stdin: io.stdin }, handlers),
      ...(options.log ? { log: options.log } : {}),
    });
    const attachment = options.attach ? main.attach(options.attach.client, { stdin: options.attach.stdin }) : undefined;
    if (options.attach?.size) attachment?.resize(options.attach.size.rows, options.attach.size.cols);
    rmSync(layout.boxSocket, { force: true });
    relay = RelayServer.listen(layout.boxSocket, {
      channel: booted.channel,
      main,
      agent: `boxlite/${VERSION}`,
      onStopRequest: (timeoutMs) => session.stop(timeoutMs),
      refuseExec: () => (stopping ? `box ${id} is stopping` : undefined),
    });
    // While the main command is held nothing else watches the VM: its end ends the box.
    void booted.vm.exited.then(() => main.abort(new BoxliteError("vmm_failed", "the VM stopped before the box's main command started")));
    const done = main.exit.promise.then(
      async (status) => {
        await finish({ exitCode: status.code });
        return status;
      },
      async (error: unknown) => {
        // Stopped while held: the main command never ran, so there is no exit code.
        if (stopping) {
          await finish({ exitCode: null });
          return null;
        }
        const reported = withConsoleTail(error, layout);
        await finish({ error: reported });
        throw reported;
      },
    );
    let timer: Timer | undefined;
    void done.finally(() => clearTimeout(timer)).catch(() => {});
    const session: BoxSession = {
      id,
      main,
      attachment,
      done,
      stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
        if (stopping) return;
        stopping = true;
        updateBoxState(db, id, { status: "stopping", last_updated: new Date().toISOString() });
        main.markStopping();
        if (main.state === "held") return main.abort(new BoxliteError("conflict", `box ${id} was stopped before its main command started`));
        main.signal(SIGTERM);
        timer = setTimeout(() => booted.channel.shutdown(), timeoutMs);
      },
    };
    if (!options.hold) main.start();
    return session;
  } catch (error) {
    await finish({ error });
    throw error;
  }
}
