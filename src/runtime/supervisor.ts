/**
 * Detached boxes: each runs under its own supervisor, `boxlite __supervise <id>`, a child
 * in a new session (setsid) that outlives the command that started it. The supervisor
 * owns the box as a foreground `run` does (session.ts): the box lock, the VM (whose
 * watchdog kills it if the supervisor dies), the box socket and the main command, whose
 * output goes to `logs/main.log` (and to a client attached over the box socket). It
 * reports one JSON line on stdout once the box runs or could not start, then closes
 * stdout: that is what the starting command waits for. With `--hold` the main command
 * waits for a client's START (the REST attach boots a box this way, attaches, then starts).
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { childEnv } from "../config/config.ts";
import { BoxliteError, type ErrorCode, isBoxliteError } from "../util/errors.ts";
import { fileTail } from "../util/fs.ts";
import { selfCommand } from "../util/self.ts";
import { boxLayout } from "./box-layout.ts";
import type { Home } from "./home.ts";
import { startBox } from "./session.ts";

type ReadyLine = { ok: true; pid: number } | { ok: false; code: ErrorCode; message: string };

/** How much of main.log a supervisor that died at start shows. */
const LOG_TAIL_LINES = 15;

/** Beyond the boot timeout: a supervisor that says nothing for this long is reported. */
const READY_SLACK_MS = 30_000;

export interface SuperviseOptions {
  /** Boot the box but run its main command only when a client asks (box socket START): an attach comes first. */
  hold?: boolean;
  /**
   * The box ends with the process that starts it (a box created with detach: false, started
   * by a server or a library): the supervisor gets the read end of a pipe only that process
   * holds, and stops the box when it reads end-of-file — that process is gone, however it went.
   */
  lifeline?: boolean;
}

/** The supervisor's fd of its lifeline pipe (0–2 are its stdio). */
const LIFELINE_FD = 3;

/** Stops the box once the lifeline's other end is closed: its only holder, the starting process, is gone. */
async function watchLifeline(stop: () => void): Promise<void> {
  try {
    for await (const _ of Bun.file(LIFELINE_FD).stream()) {
      // Nothing is ever written: the pipe only ends.
    }
  } finally {
    stop();
  }
}

/** Runs in the supervisor process: starts the box and lives until it stops. Returns the exit code. */
export async function superviseBox(home: Home, id: string, options: SuperviseOptions = {}): Promise<number> {
  const report = (line: ReadyLine) => {
    try {
      writeSync(1, `${JSON.stringify(line)}\n`);
      closeSync(1);
    } catch {
      // The starting command went away; the box runs on regardless.
    }
  };
  const log = openSync(boxLayout(home.config, id).mainLog, "a");
  const append = (chunk: Uint8Array) => {
    writeSync(log, chunk);
  };
  try {
    const session = await startBox(home, id, { operation: "start", log: append, hold: options.hold === true });
    report({ ok: true, pid: process.pid });
    const stop = () => session.stop();
    process.on("SIGTERM", stop);
    process.on("SIGINT", stop);
    if (options.lifeline) void watchLifeline(stop);
    const status = await session.done;
    return status === null || status.code === 0 ? 0 : 1;
  } catch (error) {
    const known = isBoxliteError(error) ? error : new BoxliteError("internal", String(error));
    report({ ok: false, code: known.code, message: known.message });
    return 1;
  } finally {
    closeSync(log);
  }
}

/** Starts a box under a new supervisor and waits until it runs (or says why it could not). */
export async function spawnSupervisor(home: Home, id: string, options: SuperviseOptions = {}): Promise<void> {
  const layout = boxLayout(home.config, id);
  const log = openSync(layout.mainLog, "a");
  const flags = [...(options.hold ? ["--hold"] : []), ...(options.lifeline ? ["--lifeline"] : [])];
  const child = Bun.spawn([...selfCommand(), "--home", home.config.home, "__supervise", id, ...flags], {
    // The lifeline's write end stays open in this process for as long as it lives (Bun leaves it to us).
    stdio: ["ignore", "pipe", log, ...(options.lifeline ? (["pipe"] as const) : [])],
    detached: true,
    // The backend this process would use (a --vmm flag is not in the environment otherwise).
    env: childEnv({ BOXLITE_VMM: home.config.vmm }),
  });
  closeSync(log);
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new BoxliteError("guest_timeout", `box ${id}'s supervisor (pid ${child.pid}) did not report within the boot timeout; see ${layout.mainLog}`)),
      home.config.bootTimeoutMs + READY_SLACK_MS,
    );
  });
  try {
    const text = await Promise.race([new Response(child.stdout).text(), timeout]);
    const line = text.split("\n")[0] ?? "";
    if (line === "") {
      // Its stdout ended without a word: it is gone, or going. How says whether it was killed.
      await Promise.race([child.exited, Bun.sleep(1000)]);
      const how = child.signalCode ? `killed by ${child.signalCode}` : child.exitCode === null ? "closed its output" : `exit status ${child.exitCode}`;
      const tail = fileTail(layout.mainLog, LOG_TAIL_LINES);
      throw new BoxliteError("vmm_failed", `box ${id}'s supervisor exited before the box started (${how})${tail ? `:\n${tail}` : ""}`);
    }
    const ready = JSON.parse(line) as ReadyLine;
    if (!ready.ok) throw new BoxliteError(ready.code, ready.message);
  } finally {
    clearTimeout(timer);
    child.unref();
  }
}
