/**
 * A box's VMM and its helpers under the vmm-watch watchdog (host/vmm-watch.c), shared by
 * the backends: the group dies with the boxlite process that started it, even when that
 * one is SIGKILLed, because only this process holds the watchdog's lifeline. The
 * watchdog reports every process it starts (pid and start time) and a helper's death;
 * starting returns once the helpers are ready and the VMM has created the agent's unix
 * socket, or fails with the watchdog's stderr, leaving nothing behind.
 */
import { closeSync, existsSync, rmSync, writeSync } from "node:fs";
import { constants } from "node:os";
import { type Config, childEnv } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { isRunning, killIfRunning } from "../util/proc.ts";
import type { VmExit, VmMember, VmProcess } from "./backend.ts";
import { type HelperCommand, helperView, VMM_NAME } from "./helpers.ts";
import type { JailView } from "./jail/view.ts";
import { type JailRequest, openJail } from "./jail/jail.ts";
import { prepareWatchdog } from "./watchdog.ts";
import { describeHelperExit, parseReport, readLines, watchArgs } from "./watch-protocol.ts";

/** A VMM creates its sockets before the guest starts; this bounds one that hangs before that. */
const SOCKET_TIMEOUT_MS = 10_000;
/** How long SIGKILLed survivors of a watchdog that died may take to be gone. */
const SURVIVOR_GRACE_MS = 2_000;
const STDERR_TAIL_BYTES = 4096;
/** The watchdog's lifeline: an extra socket pair, so the VMM's stdin stays free (krun's config arrives there). */
const LIFELINE_FD = 3;
/** Where the VMM finds `VmmCommand.file`: the number it has in the watchdog, which hands it on to the VMM alone. */
export const VMM_FILE_FD = 4;

export interface VmmCommand {
  /** Named in errors: "QEMU", "libkrun". */
  what: string;
  argv: string[];
  /** The VMM's whole stdin (then end of file); without it stdin is /dev/null. */
  stdin?: Uint8Array;
  /** The unix socket the VMM creates for the agent's channel. */
  agentSocketPath: string;
  /** Started first, in order, each ready before the next. */
  helpers: readonly HelperCommand[];
  /** The jail around the VMM and its helpers (docs/security.md), and what the VMM may see; absent: none. */
  jail?: { request: JailRequest; vmm: JailView };
  /**
   * An open file the VMM alone gets, as fd VMM_FILE_FD (a saved VM's state, which QEMU reads
   * itself: nothing is copied through boxlite, and the jail needs no view of the file). The
   * caller closes its own copy once this returned.
   */
  file?: number;
}

export async function spawnVmm(config: Config, command: VmmCommand): Promise<VmProcess> {
  const watchdog = await prepareWatchdog(config);
  // A file left by an earlier run must not pass for a VMM or a helper that is ready.
  rmSync(command.agentSocketPath, { force: true });
  for (const helper of command.helpers) rmSync(helper.readyPath, { force: true });
  const jail = command.jail && openJail(config, command.jail.request);
  const helpers = jail ? command.helpers.map((helper) => ({ ...helper, argv: jail.wrap(helper.argv, helperView(helper)) })) : command.helpers;
  const argv = jail && command.jail ? jail.wrap(command.argv, command.jail.vmm) : command.argv;
  let proc: Bun.Subprocess<"pipe" | "ignore" | Uint8Array, "pipe", "pipe">;
  try {
    const fileOptions = command.file === undefined ? [] : ["--vmm-fd", String(VMM_FILE_FD)];
    proc = Bun.spawn([watchdog, ...(jail?.watchOptions ?? []), ...fileOptions, ...watchArgs(LIFELINE_FD, helpers, argv)], {
      stdio: [command.stdin ?? "ignore", "pipe", "pipe", "pipe", ...(command.file === undefined ? [] : [command.file])],
      env: childEnv(),
    });
  } catch (error) {
    await jail?.release();
    throw error;
  }
  // The lifeline's other end: held only here, open for as long as the group lives (Bun leaves it to us).
  const lifeline = proc.stdio[LIFELINE_FD] as number;
  let lifelineOpen = true;
  const stderr = collectTail(proc.stderr);
  const members: VmMember[] = [];
  const failed = Promise.withResolvers<string>();
  let reason: string | undefined;
  const reports = followReports(proc.stdout, {
    started: (member) => members.push(member),
    helperExited: (why) => {
      reason = why;
      failed.resolve(why);
      // Its handlers run first (microtasks), then the watchdog may stop the VMM. Never
      // once closed: the fd number may name another file by then.
      setImmediate(() => lifelineOpen && acknowledge(lifeline));
    },
    garbled: (why) => {
      reason ??= why;
      killGroup(proc);
    },
  });
  const exited: Promise<VmExit> = proc.exited.then(async (status) => {
    lifelineOpen = false;
    closeSync(lifeline);
    // Only the watchdog writes its stdout: the reports are complete once it exited.
    await reports;
    // Only a watchdog that was itself killed leaves any: they are killed, never a reused
    // pid. Before stderr, which they share and would hold open.
    await killSurvivors(members);
    await jail?.release();
    await stderr.done;
    const signal = typeof proc.signalCode === "string" ? constants.signals[proc.signalCode] : 0;
    return { code: signal ? 128 + signal : status, ...(reason ? { reason } : {}) };
  });
  const vm: VmProcess = {
    pid: proc.pid,
    members,
    exited,
    failed: failed.promise,
    kill: (signal = "SIGTERM") => (signal === "SIGKILL" ? killNow(proc) : proc.kill(signal)),
  };
  try {
    await waitForStart(command, members, exited, () => stderr.text());
  } catch (error) {
    killGroup(proc);
    await exited;
    throw error;
  }
  return vm;
}

interface ReportHandlers {
  started(member: VmMember): void;
  helperExited(reason: string): void;
  garbled(reason: string): void;
}

/** Reads the watchdog's reports until it exits. */
async function followReports(stdout: ReadableStream<Uint8Array>, on: ReportHandlers): Promise<void> {
  for await (const line of readLines(stdout)) {
    try {
      const report = parseReport(line);
      if (report.kind === "started") on.started({ name: report.name, pid: report.pid, startTime: report.startTime });
      else on.helperExited(describeHelperExit(report));
    } catch (error) {
      on.garbled(error instanceof Error ? error.message : String(error));
    }
  }
}

/** Tells the watchdog boxlite took note of a helper's death: it need not wait any longer to stop the VMM. */
function acknowledge(lifeline: number): void {
  try {
    writeSync(lifeline, new Uint8Array([1]));
  } catch {
    // The watchdog is gone already.
  }
}

/** How long the watchdog may take to kill and reap its group before the group is SIGKILLed whole (its own grace is 3 s). */
const KILL_FALLBACK_MS = 5_000;

/**
 * SIGUSR1 asks the watchdog to SIGKILL its group and exit once it reaped every member: a
 * killed process then counts in the box's cgroups only until the watchdog reaps it, not until
 * init does (killing the group whole orphans them all at once). A watchdog that does not exit
 * in time is killed with its group.
 */
function killNow(proc: Bun.Subprocess): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  proc.kill("SIGUSR1");
  const fallback = setTimeout(() => killGroup(proc), KILL_FALLBACK_MS);
  void proc.exited.then(() => clearTimeout(fallback));
}

/** SIGKILL to the watchdog's process group, while the watchdog is ours (unreaped): its pid cannot name another group yet. */
function killGroup(proc: Bun.Subprocess): void {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  try {
    process.kill(-proc.pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

/**
 * What the watchdog started and still runs is killed, and waited for: only a watchdog that
 * was killed itself leaves any (it reaps its group before it exits). The look is taken every
 * millisecond: the VMM's own teardown is what is waited for.
 */
async function killSurvivors(members: readonly VmMember[]): Promise<void> {
  const killed = members.filter((member) => killIfRunning(member));
  const deadline = performance.now() + SURVIVOR_GRACE_MS;
  while (killed.some((member) => isRunning(member)) && performance.now() < deadline) await Bun.sleep(1);
}

async function waitForStart(command: VmmCommand, members: readonly VmMember[], exited: Promise<VmExit>, stderr: () => string): Promise<void> {
  let exit: VmExit | undefined;
  void exited.then((result) => (exit = result));
  const timeoutMs = SOCKET_TIMEOUT_MS + command.helpers.reduce((sum, helper) => sum + helper.readyTimeoutMs, 0);
  const deadline = performance.now() + timeoutMs;
  while (!(members.some((member) => member.name === VMM_NAME) && existsSync(command.agentSocketPath))) {
    if (exit !== undefined) {
      const why = exit.reason ?? (stderr() || "no output");
      if (!members.some((member) => member.name === VMM_NAME)) throw new BoxliteError("vmm_failed", `${command.what} was not started: ${why}`);
      throw new BoxliteError("vmm_failed", `${command.what} exited with status ${exit.code} before the VM started: ${why}`);
    }
    if (performance.now() > deadline) throw new BoxliteError("vmm_failed", `${command.what} did not create its agent socket within ${timeoutMs} ms`);
    await Bun.sleep(2);
  }
}

/** Reads a stream to its end, keeping only the last few KB (enough for an error message). */
function collectTail(stream: ReadableStream<Uint8Array>): { done: Promise<void>; text: () => string } {
  let tail = new Uint8Array(0);
  const done = (async () => {
    for await (const chunk of stream) {
      const merged = new Uint8Array(tail.length + chunk.length);
      merged.set(tail);
      merged.set(chunk, tail.length);
      tail = merged.subarray(Math.max(0, merged.length - STDERR_TAIL_BYTES));
    }
  })();
  return { done, text: () => new TextDecoder().decode(tail).trim() };
}
