import type { Config } from "./config.ts";

/** Kills this process at `name` when the crash tests ask for it (BOXLITE_CRASH_AT). */
export function crashPoint(config: Config, name: string): void {
  if (config.crashAt === name) process.kill(process.pid, "SIGKILL");
}
