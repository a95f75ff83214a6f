/** Helpers beside a VMM in tests: the sidecar stand-in (test/fixtures/sidecar) and an owner process a test can SIGKILL. */
import { join } from "node:path";
import type { VmMember } from "../../src/vmm/backend.ts";
import { startTimeOf } from "../../src/util/proc.ts";
import type { HelperCommand } from "../../src/vmm/helpers.ts";
import { REPO } from "./cli.ts";

const SIDECAR = join(REPO, "test", "fixtures", "sidecar", "sidecar.ts");
const OWNER = join(REPO, "test", "fixtures", "sidecar", "owner.ts");

/** A helper that listens on `socketPath` (its ready path); see sidecar.ts for `flags`. */
export function sidecar(name: string, socketPath: string, flags: string[] = [], readyTimeoutMs = 20_000): HelperCommand {
  return { name, argv: [process.execPath, SIDECAR, socketPath, ...flags], readyPath: socketPath, readyTimeoutMs };
}

export interface Owner {
  proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
  /** The watchdog, then every process it started: the whole group, with start times. */
  group: VmMember[];
}

/** Starts owner.ts with `request` and waits for the group it started. */
export async function startOwner(request: object, env: Record<string, string> = {}): Promise<Owner> {
  const proc = Bun.spawn([process.execPath, OWNER], {
    cwd: REPO,
    env: { ...process.env, ...env },
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
  });
  proc.stdin.write(JSON.stringify(request));
  await proc.stdin.end();
  const reader = proc.stdout.getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the owner exited (${await proc.exited}) before starting the group: ${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const started = JSON.parse(text) as { watchdog: number; members: VmMember[] };
  const watchdog = { pid: started.watchdog, startTime: startTimeOf(started.watchdog) ?? "gone", name: "watchdog" };
  return { proc, group: [watchdog, ...started.members] };
}
