/**
 * The chaos loop: every so often, SIGKILL one random process of the soak — a box's owner (its
 * supervisor), a VMM, or a client CLI — and nothing else: only processes whose command line
 * names the soak's home, or CLI runs the soak started itself.
 */
import { readdirSync, readFileSync } from "node:fs";
import type { Cli } from "./cli.ts";

export type Victim = "owner" | "vmm" | "client";

/** The pids whose command line contains every one of `needles`. */
export function processesWith(...needles: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
    } catch {
      continue; // gone meanwhile
    }
    if (needles.every((needle) => cmdline.includes(needle))) found.push(Number(entry));
  }
  return found;
}

function pick<T>(values: readonly T[]): T | undefined {
  return values[Math.floor(Math.random() * values.length)];
}

function candidates(victim: Victim, home: string, clis: Cli[]): number[] {
  switch (victim) {
    case "owner":
      return processesWith("__supervise", home);
    case "vmm":
      return processesWith("qemu-system", home);
    case "client":
      return clis.flatMap((cli) => [...cli.running]);
  }
}

/** Runs until `stop` resolves; returns what it killed, by kind. */
export async function runChaos(home: string, clis: Cli[], everyMs: number, stop: Promise<void>): Promise<Map<Victim, number>> {
  const killed = new Map<Victim, number>();
  let stopped = false;
  void stop.then(() => (stopped = true));
  while (!stopped) {
    await Promise.race([Bun.sleep(everyMs * (0.5 + Math.random())), stop]);
    if (stopped) break;
    const victim = pick<Victim>(["owner", "vmm", "client"]) ?? "client";
    const pid = pick(candidates(victim, home, clis));
    if (pid === undefined) continue;
    try {
      process.kill(pid, "SIGKILL");
      killed.set(victim, (killed.get(victim) ?? 0) + 1);
    } catch {
      // It ended on its own meanwhile.
    }
  }
  return killed;
}
