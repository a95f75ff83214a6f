/** Wires a command running in a box to this terminal: stdin, signals, window size, exit code. */
import { constants } from "node:os";
import type { ExitStatus } from "../guest-protocol/execution.ts";
import type { ExecutionHandle } from "../runtime/api.ts";
import { warn } from "./output.ts";
import { RawTerminal } from "./terminal.ts";

/** Host signals forwarded to the command; the box decides what they mean. */
const FORWARDED_SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"] as const;

async function pumpStdin(execution: ExecutionHandle): Promise<void> {
  for await (const chunk of Bun.stdin.stream()) await execution.writeStdin(chunk);
  execution.closeStdin();
}

/** Streams until `done` settles; returns the command's exit code (its error, if any, on stderr). */
export async function attachExecution(execution: ExecutionHandle, done: Promise<ExitStatus>, options: { tty: boolean; stdin: boolean }): Promise<number> {
  const forward = (signal: NodeJS.Signals) => execution.signal(constants.signals[signal]);
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  using terminal = options.tty ? new RawTerminal((size) => execution.resize(size.rows, size.cols)) : undefined;
  if (options.stdin) void pumpStdin(execution);
  try {
    const status = await done;
    terminal?.restore();
    if (status.error) warn(status.error);
    return status.code;
  } finally {
    for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
  }
}
