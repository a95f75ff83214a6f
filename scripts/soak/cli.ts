/**
 * The soak's boxlite CLI runs: each one a child process the chaos loop may kill, run against
 * the soak's home or, with `url`, through its `boxlite serve`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";

const REPO = join(import.meta.dir, "..", "..");
const DIST = join(REPO, "dist", "boxlite");

/** The shipped executable (`dist`, which must be built), or the source as the tests run it. */
export function boxliteCommand(dist: boolean): string[] {
  if (dist && !existsSync(DIST)) throw new Error(`${DIST} is not built: run bun scripts/build.ts, or soak the source`);
  return dist ? [DIST] : [process.execPath, join(REPO, "src", "main.ts")];
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export class Cli {
  /** The CLI processes running now: the chaos loop's "clients". */
  readonly running = new Set<number>();

  constructor(
    private readonly command: string[],
    private readonly env: Record<string, string>,
    readonly url?: string,
  ) {}

  async run(args: string[], stdin?: Uint8Array): Promise<CliRun> {
    const proc = Bun.spawn([...this.command, ...(this.url ? ["--url", this.url] : []), ...args], {
      stdin: stdin ? new Blob([stdin]) : "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...this.env },
    });
    this.running.add(proc.pid);
    try {
      const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
      return { code, stdout, stderr };
    } finally {
      this.running.delete(proc.pid);
    }
  }
}
