/**
 * The exec port on a real VM (QEMU): a process's execs reach the box's agent through its
 * QEMU's socket, past the box's owner — they run while the owner is stopped (SIGSTOP), plain,
 * with stdin and in a PTY — while any other process goes through the box socket. A process
 * that dies leaves the port, and its command, to be ended; a closed exec's command is killed;
 * the box's commands see no port; after a suspend and resume the port is dialed afresh; a
 * box stopped under an exec ends it. One box, started with `run -d`, serves every test.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ExecOptions } from "../../src/runtime/exec.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { cliCommand, qemuProcesses, REPO, runCli, supervisorPids, waitFor } from "../helpers/cli.ts";

const NAME = "e2e-exec-port";
const runtime = Boxlite.open();
let id = "";

/** Runs a command in the box through the library; its exit code and output. */
async function run(command: string[], options: Omit<ExecOptions, "command"> = {}, stdin?: string): Promise<{ code: number; signal: number; out: string }> {
  const chunks: string[] = [];
  const exec = await runtime.exec(id, { command, ...options }, { onStdout: (bytes) => void chunks.push(new TextDecoder().decode(bytes)), onStderr: () => {} });
  if (stdin !== undefined) {
    await exec.execution.writeStdin(new TextEncoder().encode(stdin));
    exec.execution.closeStdin();
  }
  const { code, signal } = await exec.done;
  return { code, signal, out: chunks.join("") };
}

/** The pid the exec port's lock names: the process that holds the port (the note is written when it is taken). */
function portHolder(): number {
  return (JSON.parse(readFileSync(join(process.env.BOXLITE_HOME as string, "boxes", id, "sockets", "exec.lock"), "utf8")) as { pid: number }).pid;
}

function consoleLog(): string {
  return readFileSync(join(process.env.BOXLITE_HOME as string, "boxes", id, "logs", "console.log"), "utf8");
}

function ownerPid(): number {
  const pid = supervisorPids(id)[0];
  expect(pid).toBeGreaterThan(0);
  return pid as number;
}

beforeAll(async () => {
  const started = await runCli(["run", "-d", "--name", NAME, "--", "sleep", "3600"]);
  expect(started.code, started.stderr).toBe(0);
  id = started.stdout.trim();
});

afterAll(async () => {
  await runCli(["rm", "-f", NAME]);
});

test("a process that dies while its command runs over the port leaves the port to the next, and the command is ended", async () => {
  const cli = Bun.spawn(cliCommand(["exec", NAME, "--", "sh", "-c", "echo $$ > /held; exec sleep 600"]), { cwd: REPO, env: process.env });
  await waitFor(
    () => {
      try {
        return portHolder() === cli.pid;
      } catch {
        return false;
      }
    },
    30_000,
    "the CLI's exec to take the port",
  );
  // Meanwhile this process's exec goes through the box socket.
  await waitFor(async () => (await run(["cat", "/held"])).code === 0, 30_000, "the CLI's command to start");
  cli.kill("SIGKILL");
  await cli.exited;
  // The agent ends the dead client's session (and command) after its grace period, then waits
  // for SIGIO to tell it of the next client: with the owner stopped, only the port can answer.
  await waitFor(() => consoleLog().includes("the exec port's host went away"), 15_000, "the agent to see the client gone");
  const owner = ownerPid();
  process.kill(owner, "SIGSTOP");
  try {
    expect((await run(["sh", "-c", "kill -0 $(cat /held)"])).code).not.toBe(0);
  } finally {
    process.kill(owner, "SIGCONT");
  }
  expect(portHolder()).toBe(process.pid);
});

test("with the box's owner stopped, execs still run over the port: plain, with stdin and in a PTY", async () => {
  const owner = ownerPid();
  process.kill(owner, "SIGSTOP");
  try {
    expect(await run(["echo", "past the owner"])).toEqual({ code: 0, signal: 0, out: "past the owner\n" });
    expect(await run(["sh", "-c", "tr a-z A-Z"], { stdin: true }, "piped in\n")).toEqual({ code: 0, signal: 0, out: "PIPED IN\n" });
    const tty = await run(["sh", "-c", "tty; stty size"], { tty: { rows: 30, cols: 100 } });
    expect(tty.code).toBe(0);
    expect(tty.out.replaceAll("\r", "")).toMatch(/^\/dev\/pts\/\d+\n30 100\n$/);
  } finally {
    process.kill(owner, "SIGCONT");
  }
});

test("another process's exec goes through the box socket while this one holds the port", async () => {
  const other = await runCli(["exec", NAME, "--", "echo", "through the owner"]);
  expect(other.code, other.stderr).toBe(0);
  expect(other.stdout).toBe("through the owner\n");
  expect(portHolder()).toBe(process.pid);
});

test("closing an exec over the port kills its command; the box's commands see no port", async () => {
  const exec = await runtime.exec(id, { command: ["sh", "-c", "echo $$ > /closed; exec sleep 600"] }, { onStdout: () => {}, onStderr: () => {} });
  await exec.execution.started.promise;
  await waitFor(async () => (await run(["cat", "/closed"])).code === 0, 15_000, "the command to start");
  exec.close();
  expect((await exec.done).signal).toBe(9);
  expect((await run(["sh", "-c", "kill -0 $(cat /closed)"])).code).not.toBe(0);
  expect((await run(["sh", "-c", "ls /dev/vport* /dev/hvc* 2>/dev/null | wc -l"])).out.trim()).toBe("0");
});

test("after a suspend and resume the port is dialed afresh", async () => {
  await runtime.suspend(id);
  await runtime.resume(id);
  expect(await run(["echo", "resumed"])).toEqual({ code: 0, signal: 0, out: "resumed\n" });
  expect(portHolder()).toBe(process.pid);
});

test("a box stopped while an exec runs over the port ends the exec", async () => {
  const exec = await runtime.exec(id, { command: ["sleep", "600"] }, { onStdout: () => {}, onStderr: () => {} });
  await exec.execution.started.promise;
  const settled = exec.done.then(
    () => "exited",
    () => "failed",
  );
  await runtime.stop(id, { timeoutMs: 1_000 });
  expect(["exited", "failed"]).toContain(await settled);
  expect((await runtime.getBox(id)).status).toBe("stopped");
});

test("a VM that dies while an exec runs over the port fails the exec as the box's owner would say, not as a closed channel", async () => {
  expect((await runCli(["start", NAME])).code).toBe(0);
  const exec = await runtime.exec(id, { command: ["sleep", "600"] }, { onStdout: () => {}, onStderr: () => {} });
  await exec.execution.started.promise;
  const failed = exec.done.then(
    () => "exited",
    (error: Error) => error.message,
  );
  for (const pid of qemuProcesses(id)) process.kill(pid, "SIGKILL");
  expect(await failed).toBe(`box ${id} stopped while the command ran (its main command ended, or the box was stopped or suspended)`);
});
