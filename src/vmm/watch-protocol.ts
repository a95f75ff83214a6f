/**
 * The TS side of host/vmm-watch.c's contract: the command line that hands it the helpers
 * and the VMM, and the report lines it writes on its stdout.
 */
import { constants } from "node:os";
import { BoxliteError } from "../util/errors.ts";
import type { HelperCommand } from "./helpers.ts";

/** `FD [--helper NAME READY_PATH READY_MS ARGC PROGRAM ARG...]... -- VMM...`: counted, so any argument passes as given. */
export function watchArgs(lifelineFd: number, helpers: readonly HelperCommand[], vmmArgv: readonly string[]): string[] {
  const helperArgs = helpers.flatMap((helper) => [
    "--helper",
    helper.name,
    helper.readyPath,
    String(helper.readyTimeoutMs),
    String(helper.argv.length),
    ...helper.argv,
  ]);
  return [String(lifelineFd), ...helperArgs, "--", ...vmmArgv];
}

export type WatchReport =
  /** A helper, or the VMM ("vmm"), was started. */
  | { kind: "started"; name: string; pid: number; startTime: string }
  /** A helper ended while the VMM ran: the watchdog stops the group once boxlite acknowledged (or after a second). */
  | { kind: "exited"; name: string; pid: number; how: "code" | "signal"; value: number };

const STARTED = /^started (\S+) (\d+) (\d+)$/;
const EXITED = /^exited (\S+) (\d+) (code|signal) (\d+)$/;

/** One report line; anything else is a mismatch between this build and its watchdog, a bug. */
export function parseReport(line: string): WatchReport {
  const started = STARTED.exec(line);
  if (started) return { kind: "started", name: started[1] as string, pid: Number(started[2]), startTime: started[3] as string };
  const exited = EXITED.exec(line);
  if (exited) return { kind: "exited", name: exited[1] as string, pid: Number(exited[2]), how: exited[3] as "code" | "signal", value: Number(exited[4]) };
  throw new BoxliteError("internal", `the VMM watchdog reported ${JSON.stringify(line)}, which this boxlite does not understand`);
}

/** Why the box stopped, for an `exited` report: "helper net (pid 42) was killed by signal 9 (SIGKILL); the VM was stopped". */
export function describeHelperExit(report: Extract<WatchReport, { kind: "exited" }>): string {
  const how = report.how === "signal" ? `was killed by signal ${report.value}${signalName(report.value)}` : `exited with status ${report.value}`;
  return `helper ${report.name} (pid ${report.pid}) ${how}; the VM was stopped`;
}

function signalName(signal: number): string {
  const name = Object.entries(constants.signals).find(([, value]) => value === signal)?.[0];
  return name ? ` (${name})` : "";
}

/** Splits a stream into lines as they arrive (the last, unterminated piece at the end). */
export async function* readLines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    yield* lines;
  }
  if (pending) yield pending;
}
