/** A real `boxlite serve` child for tests: started on a free port, its URL read from its "listening" log line. */
import type { Subprocess } from "bun";
import { cliCommand, REPO, waitFor } from "./cli.ts";

export interface ServeProcess {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  url: string;
  /** What the server logged so far. */
  log: () => string;
}

export async function startServeProcess(extra: string[] = []): Promise<ServeProcess> {
  const proc = Bun.spawn(cliCommand(["serve", "--port", "0", ...extra]), { cwd: REPO, env: process.env, stdin: "ignore", stdout: "ignore", stderr: "pipe" });
  let log = "";
  void (async () => {
    for await (const chunk of proc.stderr) log += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => log.includes('msg="listening"') || proc.exitCode !== null, 30_000, "the server to listen");
  const url = /url="(http:\/\/127\.0\.0\.1:\d+)"/.exec(log)?.[1];
  if (!url) {
    proc.kill();
    throw new Error(`serve did not start: ${log}`);
  }
  return { proc, url, log: () => log };
}
