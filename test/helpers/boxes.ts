/** Boxes for CLI tests: ids in the test home, a stopped box, a box running in the foreground, a script run in one. */
import { expect } from "bun:test";
import { cliCommand, REPO, runCli, waitFor } from "./cli.ts";

export async function boxIds(): Promise<string[]> {
  return (await runCli(["ls", "-a", "-q"])).stdout.split("\n").filter(Boolean);
}

/** Runs a box without --rm and returns its id. */
export async function stoppedBox(): Promise<string> {
  const before = new Set(await boxIds());
  expect((await runCli(["run", "--", "true"])).code).toBe(0);
  const id = (await boxIds()).find((candidate) => !before.has(candidate));
  expect(id).toBeDefined();
  return id as string;
}

/** Starts a foreground run that stays up; resolves with its process and box id once the command runs. */
export async function runningBox() {
  const before = new Set(await boxIds());
  let output = "";
  const proc = Bun.spawn(cliCommand(["run", "--", "sh", "-c", "echo ready; sleep 600"]), { cwd: REPO, env: process.env, stdout: "pipe" });
  void (async () => {
    for await (const chunk of proc.stdout) output += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => output.includes("ready"), 60_000, "the box to start");
  const id = (await boxIds()).find((candidate) => !before.has(candidate)) as string;
  return { proc, id };
}

/** Runs `script` with `sh -c` in a running box through the CLI; expects it to succeed and returns its trimmed output. */
export async function shIn(box: string, script: string, env: Record<string, string> = {}): Promise<string> {
  const result = await runCli(["exec", box, "--", "sh", "-c", script], { env });
  expect(result.code, result.stderr).toBe(0);
  return result.stdout.trim();
}
