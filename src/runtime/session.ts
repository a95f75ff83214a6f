/**
 * A box's life from start to stop, in the process that owns it (a foreground `run`, or a
 * detached box's supervisor): under the box's lock, boot the VM, serve the box socket to
 * other processes (exec, stop), run the main command, and when it ends — by itself or by
 * a stop — power the VM off and record the exit code. Docker semantics: the box lives as
 * long as its main command.
 */
import { rmSync } from "node:fs";
import { imageOf } from "../db/box-summaries.ts";
import { getBox, updateBoxState } from "../db/boxes.ts";
import { VERSION } from "../config/version.ts";
import type { ExecHandlers, ExitStatus, GuestExecution } from "../guest-protocol/execution.ts";
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
/** What docker reports for a main command killed after the grace period. */
const KILLED_EXIT_CODE = 137;

export interface SessionOptions {
  handlers: ExecHandlers;
  /** A pseudo-terminal of this size for the main command, or none. */
  tty?: { rows: number; cols: number };
  stdin?: boolean;
  /** Named in "box busy" errors: "run" or "start". */
  operation: string;
}

export interface BoxSession {
  id: string;
  /** The main command. */
  execution: GuestExecution;
  /** Settles once the main command ended and the VM is gone (and an auto-remove box removed). */
  done: Promise<ExitStatus>;
  /** SIGTERM to the main command, then after `timeoutMs` the guest powers off (killing it). */
  stop(timeoutMs?: number): void;
}

const STARTABLE = new Set(["configured", "stopped", "failed", "unknown"]);

export async function startBox(home: Home, id: string, options: SessionOptions): Promise<BoxSession> {
  const { config } = home;
  const { db } = home.database;
  const found = getBox(db, id);
  if (!found) throw new BoxliteError("not_found", `no box ${JSON.stringify(id)}; see 'boxlite ls -a'`);
  const lock = lockBox(config, id, options.operation);
  const record = getBox(db, id);
  if (!record || !STARTABLE.has(record.status)) {
    lock.release();
    throw new BoxliteError("conflict", record ? `box ${id} is ${record.status}; only a configured, stopped or failed box can be started` : `box ${id} was removed by another process`);
  }
  const layout = boxLayout(config, id);
  const run = runOptionsOf(record.config);
  let box: BootedBox | undefined;
  let relay: RelayServer | undefined;
  let stopping = false;
  const finish = async (outcome: { exitCode: number } | { error: unknown }) => {
    relay?.close();
    rmSync(layout.boxSocket, { force: true });
    // An auto-remove box's disk is deleted next, so there is nothing to sync: skip the clean power-off.
    await (run.autoRemove ? box?.kill() : box?.stop());
    removeVmmPid(layout.dir);
    const now = new Date().toISOString();
    if (run.autoRemove) discardBox(config, home.database, id);
    else if ("exitCode" in outcome) updateBoxState(db, id, { status: "stopped", pid: null, exit_code: outcome.exitCode, error_reason: null, last_updated: now });
    else updateBoxState(db, id, { status: "failed", pid: null, error_reason: outcome.error instanceof Error ? outcome.error.message : String(outcome.error), last_updated: now });
    lock.release();
  };
  try {
    const image = await boxImage(home, id, imageOf(record.config.options.rootfs));
    const spec = processSpec({ ...run, ...(options.tty ? { tty: options.tty } : {}) }, image.config, id.slice(-12));
    box = await bootBox(config, { id, image, ...checkResources(run) });
    writeVmmPid(layout.dir, box.vm.pid);
    updateBoxState(db, id, { status: "running", pid: box.vm.pid, exit_code: null, error_reason: null, last_updated: new Date().toISOString() });
    const booted = box;
    rmSync(layout.boxSocket, { force: true });
    relay = RelayServer.listen(layout.boxSocket, {
      channel: booted.channel,
      agent: `boxlite/${VERSION}`,
      onStopRequest: (timeoutMs) => session.stop(timeoutMs),
      refuseExec: () => (stopping ? `box ${id} is stopping` : undefined),
    });
    const execution = booted.channel.exec({ ...spec, create_cwd: true, tty: options.tty ?? null, stdin: options.stdin ?? false }, options.handlers);
    const done = execution.exit.promise.then(
      async (status) => {
        await finish({ exitCode: status.code });
        return status;
      },
      async (error: unknown) => {
        // A stop that had to power the guest off ends the main command with the channel.
        if (stopping) {
          await finish({ exitCode: KILLED_EXIT_CODE });
          return { code: KILLED_EXIT_CODE, signal: 9, durationUs: 0 };
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
      execution,
      done,
      stop(timeoutMs = DEFAULT_STOP_TIMEOUT_MS) {
        if (stopping) return;
        stopping = true;
        updateBoxState(db, id, { status: "stopping", last_updated: new Date().toISOString() });
        execution.signal(SIGTERM);
        timer = setTimeout(() => booted.channel.shutdown(), timeoutMs);
      },
    };
    return session;
  } catch (error) {
    await finish({ error });
    throw error;
  }
}
