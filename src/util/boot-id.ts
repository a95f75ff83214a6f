/** The host's boot identity: it changes on every host boot (a reboot killed every VM). */
import { readFileSync } from "node:fs";

/**
 * A string that changes on every host boot: Linux's boot_id, macOS's boot session
 * UUID. Where neither exists a random id is returned, so every open looks like the
 * first after a boot (the reference does the same; recovery then re-checks each box).
 */
export function readHostBootId(): string {
  try {
    const id = readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
    if (id !== "") return id;
  } catch {
    // Not Linux, or /proc is not mounted: try the macOS sysctl next.
  }
  try {
    const result = Bun.spawnSync(["sysctl", "-n", "kern.bootsessionuuid"], { stdout: "pipe", stderr: "ignore" });
    const id = result.stdout.toString().trim();
    if (result.exitCode === 0 && id !== "") return id;
  } catch {
    // No sysctl either.
  }
  return crypto.randomUUID();
}
