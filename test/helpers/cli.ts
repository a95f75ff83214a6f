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
  const [stdoutBytes, stderr, code] = await Promise.all([new Response(proc.stdout).bytes(), new Response(proc.stderr).text(), proc.exited]);
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

/** PIDs of the supervisors (`boxlite __supervise <id>`) of box `id`. */
export function supervisorPids(id: string): number[] {
  const out = Bun.spawnSync(["pgrep", "-f", `__supervise ${id}`]).stdout.toString();
  return out.split("\n").filter(Boolean).map(Number);
}

/** PIDs of QEMU processes whose command line mentions `needle`. */
export function qemuProcesses(needle: string): number[] {
  const out = Bun.spawnSync(["pgrep", "-f", `qemu-system.*${needle}`]).stdout.toString();
  return out.split("\n").filter(Boolean).map(Number);
}

/**
 * Runs `boxlite [globals] run --rm -t -- sh -c 'tty; stty size; read line; stty size; exit 3'`
 * in a 100×30 terminal, resizes it to 120×40 while the command waits, and checks that the
 * command saw a PTY of each size. Resolves with boxlite's exit code.
 */
export async function runInResizedTerminal(globals: string[] = []): Promise<number> {
  let screen = "";
  const proc = Bun.spawn(cliCommand([...globals, "run", "--rm", "-t", "--", "sh", "-c", "tty; stty size; read line; stty size; exit 3"]), {
    cwd: REPO,
    env: process.env,
    terminal: { cols: 100, rows: 30, data: (_terminal, bytes) => (screen += new TextDecoder().decode(bytes)) },
  });
  await waitFor(() => screen.includes("30 100"), 60_000, "the initial window size");
  if (!/\/dev\/pts\/\d+/.test(screen)) throw new Error(`the command has no terminal: ${JSON.stringify(screen)}`);
  proc.terminal?.resize(120, 40);
  await Bun.sleep(100); // SIGWINCH is asynchronous on the host; the resize frame must go out before the newline.
  proc.terminal?.write("\r");
  await waitFor(() => screen.includes("40 120"), 30_000, "the resized window");
  return proc.exited;
}

/**
 * Runs `boxlite [globals] run --rm` of a command that traps SIGTERM (prints "got TERM",
 * exits 5), sends boxlite SIGTERM once the command is up, and returns what it printed and
 * boxlite's exit code.
 */
export async function runAndTerminate(globals: string[] = []): Promise<{ code: number; stdout: string }> {
  let stdout = "";
  const proc = Bun.spawn(
    cliCommand([...globals, "run", "--rm", "--", "sh", "-c", 'trap "echo got TERM; exit 5" TERM; echo ready; while :; do sleep 1; done']),
    {
      cwd: REPO,
      env: process.env,
      stdout: "pipe",
      stderr: "inherit",
    },
  );
  const reader = (async () => {
    for await (const chunk of proc.stdout) stdout += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => stdout.includes("ready"), 60_000, "the command to start");
  proc.kill("SIGTERM");
  const code = await proc.exited;
  await reader;
  return { code, stdout };
}
