/**
 * The qemu backend: each box is a `qemu-system-<arch> -M microvm` process, run under the
 * vmm-watch watchdog so it dies with the boxlite process that started it.
 */
import { existsSync, rmSync } from "node:fs";
import { constants } from "node:os";
import type { Config } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";
import type { BackendInfo, GuestAssets, VmmBackend, VmProcess, VmSpec } from "../backend.ts";
import { type AccelVerdict, chooseAccelerator } from "./accel.ts";
import { boxArgs } from "./args.ts";
import { findQemu } from "./binary.ts";
import { prepareWatchdog } from "./watchdog.ts";

/** QEMU creates its sockets before the guest starts; this bounds a QEMU that hangs before that. */
const SOCKET_TIMEOUT_MS = 10_000;
const STDERR_TAIL_BYTES = 4096;

export class QemuBackend implements VmmBackend {
  readonly name = "qemu" as const;
  private verdict?: Promise<AccelVerdict>;

  constructor(
    private readonly config: Config,
    private readonly assets: GuestAssets,
  ) {}

  private accelerator(): Promise<AccelVerdict> {
    this.verdict ??= chooseAccelerator(this.config, findQemu(this.config), this.assets.kernel, this.assets.systemDisk);
    return this.verdict;
  }

  async describe(): Promise<BackendInfo> {
    const binary = findQemu(this.config);
    const verdict = await this.accelerator();
    return { name: this.name, accelerator: verdict.accelerator, reason: verdict.reason, binary };
  }

  async start(spec: VmSpec): Promise<VmProcess> {
    const qemu = findQemu(this.config);
    const [watchdog, verdict] = await Promise.all([prepareWatchdog(this.config), this.accelerator()]);
    rmSync(spec.agentSocketPath, { force: true });
    // stdin is the watchdog's lifeline: only this process holds the write end (host/vmm-watch.c).
    const proc = Bun.spawn([watchdog, "0", "--", qemu, ...boxArgs(spec, verdict.accelerator)], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "pipe",
    });
    const stderr = collectTail(proc.stderr);
    const exited = proc.exited.then(async (status) => {
      await stderr.done;
      const signal = typeof proc.signalCode === "string" ? constants.signals[proc.signalCode] : 0;
      return { code: signal ? 128 + signal : status };
    });
    const vm: VmProcess = {
      pid: proc.pid,
      exited,
      // SIGKILL cannot be forwarded by the watchdog: kill its whole process group (it and QEMU).
      kill: (signal = "SIGTERM") => (signal === "SIGKILL" ? killGroup(proc.pid) : proc.kill(signal)),
    };
    try {
      await waitForSocket(spec.agentSocketPath, exited, () => stderr.text());
    } catch (error) {
      killGroup(proc.pid);
      await exited;
      throw error;
    }
    // Keep the lifeline referenced for as long as the VM lives.
    void exited.then(() => proc.stdin.end());
    return vm;
  }
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, "SIGKILL");
  } catch {
    // Already gone.
  }
}

async function waitForSocket(path: string, exited: Promise<{ code: number }>, stderr: () => string): Promise<void> {
  let exitCode: number | undefined;
  void exited.then((exit) => (exitCode = exit.code));
  const deadline = performance.now() + SOCKET_TIMEOUT_MS;
  while (!existsSync(path)) {
    if (exitCode !== undefined) {
      await exited;
      throw new BoxliteError("vmm_failed", `QEMU exited with status ${exitCode} before the VM started: ${stderr() || "no output"}`);
    }
    if (performance.now() > deadline) throw new BoxliteError("vmm_failed", `QEMU did not create its agent socket within ${SOCKET_TIMEOUT_MS} ms`);
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
