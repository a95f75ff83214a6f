/**
 * A VMM process under the vmm-watch watchdog (host/vmm-watch.c), shared by the backends:
 * the VMM dies with the boxlite process that started it, even when that one is
 * SIGKILLed, because only this process holds the watchdog's lifeline pipe. Starting
 * returns once the VMM has created the agent's unix socket, or fails with its stderr.
 */
import { closeSync, existsSync, rmSync } from "node:fs";
import { constants } from "node:os";
import { type Config, childEnv } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import type { VmExit, VmProcess } from "./backend.ts";
import { prepareWatchdog } from "./qemu/watchdog.ts";

/** A VMM creates its sockets before the guest starts; this bounds one that hangs before that. */
const SOCKET_TIMEOUT_MS = 10_000;
const STDERR_TAIL_BYTES = 4096;
/** The watchdog's lifeline: an extra pipe, so the VMM's stdin stays free (krun's config arrives there). */
const LIFELINE_FD = 3;

export interface VmmCommand {
  /** Named in errors: "QEMU", "libkrun". */
  what: string;
  argv: string[];
  /** The VMM's whole stdin (then end of file); without it stdin is /dev/null. */
  stdin?: Uint8Array;
  /** The unix socket the VMM creates for the agent's channel. */
  agentSocketPath: string;
}

export async function spawnVmm(config: Config, command: VmmCommand): Promise<VmProcess> {
  const watchdog = await prepareWatchdog(config);
  rmSync(command.agentSocketPath, { force: true });
  const proc = Bun.spawn([watchdog, String(LIFELINE_FD), "--", ...command.argv], {
    stdio: [command.stdin ?? "ignore", "ignore", "pipe", "pipe"],
    env: childEnv(),
  });
  // The lifeline's write end: held only here, open for as long as the VM lives (Bun leaves it to us).
  const lifeline = proc.stdio[LIFELINE_FD] as number;
  const stderr = collectTail(proc.stderr);
  const exited: Promise<VmExit> = proc.exited.then(async (status) => {
    closeSync(lifeline);
    await stderr.done;
    const signal = typeof proc.signalCode === "string" ? constants.signals[proc.signalCode] : 0;
    return { code: signal ? 128 + signal : status };
  });
  const vm: VmProcess = {
    pid: proc.pid,
    exited,
    // SIGKILL cannot be forwarded by the watchdog: kill its whole process group (it and the VMM).
    kill: (signal = "SIGTERM") => (signal === "SIGKILL" ? killGroup(proc.pid) : proc.kill(signal)),
  };
  try {
    await waitForSocket(command, exited, () => stderr.text());
  } catch (error) {
    killGroup(proc.pid);
    await exited;
    throw error;
  }
  return vm;
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

async function waitForSocket(command: VmmCommand, exited: Promise<VmExit>, stderr: () => string): Promise<void> {
  let exitCode: number | undefined;
  void exited.then((exit) => (exitCode = exit.code));
  const deadline = performance.now() + SOCKET_TIMEOUT_MS;
  while (!existsSync(command.agentSocketPath)) {
    if (exitCode !== undefined) {
      await exited;
      throw new BoxliteError("vmm_failed", `${command.what} exited with status ${exitCode} before the VM started: ${stderr() || "no output"}`);
    }
    if (performance.now() > deadline) throw new BoxliteError("vmm_failed", `${command.what} did not create its agent socket within ${SOCKET_TIMEOUT_MS} ms`);
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
