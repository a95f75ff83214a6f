/** Runs the boxlite CLI from source, as a user would run the binary. */
import { join } from "node:path";

export const REPO = join(import.meta.dir, "..", "..");
export const MAIN = join(REPO, "src", "main.ts");

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  stdoutBytes: Uint8Array;
}

export interface CliOptions {
  stdin?: Uint8Array | string;
  env?: Record<string, string>;
  cwd?: string;
}

export function cliCommand(args: string[]): string[] {
  return [process.execPath, MAIN, ...args];
}

export async function runCli(args: string[], options: CliOptions = {}): Promise<CliResult> {
  const proc = Bun.spawn(cliCommand(args), {
    stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...options.env },
    cwd: options.cwd ?? REPO,
  });
  const [stdoutBytes, stderr, code] = await Promise.all([
    new Response(proc.stdout).bytes(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout: new TextDecoder().decode(stdoutBytes), stderr, stdoutBytes };
}

/** Polls a condition until it holds or the deadline passes (tests never sleep blindly). */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(20);
  }
}

/** PIDs of QEMU processes whose command line mentions `needle`. */
export function qemuProcesses(needle: string): number[] {
  const out = Bun.spawnSync(["pgrep", "-f", `qemu-system.*${needle}`]).stdout.toString();
  return out.split("\n").filter(Boolean).map(Number);
}
