/**
 * `boxlite run` end to end: every test boots a real VM (QEMU, the libkrunfw kernel, the
 * guest agent) through the CLI, as a user would.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { cliCommand, qemuProcesses, REPO, runAndTerminate, runCli, runInResizedTerminal, waitFor } from "../helpers/cli.ts";

const home = () => process.env.BOXLITE_HOME as string;
const boxes = () => (existsSync(join(home(), "boxes")) ? readdirSync(join(home(), "boxes")) : []);

describe("output and exit codes", () => {
  test("stdout and stderr stay separate", async () => {
    const result = await runCli(["run", "--rm", "--", "sh", "-c", "echo out; echo err >&2"]);
    expect(result).toMatchObject({ code: 0, stdout: "out\n", stderr: "err\n" });
  });

  test("the command's own exit code is boxlite's", async () => {
    expect((await runCli(["run", "--rm", "--", "sh", "-c", "exit 3"])).code).toBe(3);
  });

  test("a command that is not found exits 127 with a message", async () => {
    const result = await runCli(["run", "--rm", "--", "no-such-command"]);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain("no-such-command");
  });

  test("a file that cannot be executed exits 126", async () => {
    const result = await runCli(["run", "--rm", "--", "/etc/passwd"]);
    expect(result.code).toBe(126);
    expect(result.stderr).toContain("/etc/passwd");
  });

  test("a command killed by signal 9 exits 137", async () => {
    expect((await runCli(["run", "--rm", "--", "sh", "-c", "kill -9 $$"])).code).toBe(137);
  });
});

test("env, workdir and user reach the command", async () => {
  const result = await runCli([
    "run",
    "--rm",
    "-e",
    "GREETING=hello there",
    "-w",
    "/srv/app",
    "-u",
    "nobody",
    "--",
    "sh",
    "-c",
    'echo "$GREETING"; pwd; id -u; id -g; echo "$HOME"',
  ]);
  expect(result.stderr).toBe("");
  expect(result.stdout).toBe("hello there\n/srv/app\n65534\n65534\n/nonexistent\n");
});

test("1 MiB of random bytes goes through stdin and cat unchanged", async () => {
  const input = new Uint8Array(1024 * 1024);
  for (let i = 0; i < input.length; i += 65536) crypto.getRandomValues(input.subarray(i, i + 65536));
  const result = await runCli(["run", "--rm", "-i", "--", "cat"], { stdin: input });
  expect(result.code).toBe(0);
  expect(result.stdoutBytes.length).toBe(input.length);
  expect(Buffer.compare(result.stdoutBytes, input)).toBe(0);
});

test("-t gives the command a terminal that follows the host window size", async () => {
  expect(await runInResizedTerminal()).toBe(3);
});

test("with -t, Ctrl-C reaches the command through its terminal, and the host terminal is restored", async () => {
  let screen = "";
  const run = cliCommand(["run", "--rm", "-t", "--", "sh", "-c", 'trap "echo got INT; exit 9" INT; echo ready; while :; do sleep 1; done'])
    .map((arg) => `'${arg.replaceAll("'", "'\\''")}'`)
    .join(" ");
  // A shell owns the terminal around boxlite so that its modes can be read after boxlite exits.
  const proc = Bun.spawn(["sh", "-c", `stty -a > /dev/null; ${run}; echo "exit=$?"; stty -a`], {
    cwd: REPO,
    env: process.env,
    terminal: { cols: 80, rows: 24, data: (_terminal, bytes) => (screen += new TextDecoder().decode(bytes)) },
  });
  await waitFor(() => screen.includes("ready"), 60_000, "the command to start");
  proc.terminal?.write("\x03");
  await waitFor(() => screen.includes("exit="), 30_000, "boxlite to exit");
  await proc.exited;
  expect(screen).toContain("got INT");
  expect(screen).toContain("exit=9");
  // Raw mode turns these off; a restored terminal has them again.
  const modes = screen.slice(screen.indexOf("exit="));
  expect(modes).toMatch(/(^|\s)icanon(\s|$)/m);
  expect(modes).toMatch(/(^|\s)echo(\s|$)/m);
  expect(modes).toMatch(/(^|\s)isig(\s|$)/m);
});

test("host SIGTERM is forwarded to the command", async () => {
  expect(await runAndTerminate()).toEqual({ code: 5, stdout: "ready\ngot TERM\n" });
});

describe("box files", () => {
  test("--rm leaves nothing behind", async () => {
    const before = boxes();
    expect((await runCli(["run", "--rm", "--", "true"])).code).toBe(0);
    expect(boxes()).toEqual(before);
  });

  test("without --rm the box keeps its disk and console log", async () => {
    const before = new Set(boxes());
    const result = await runCli(["run", "--", "sh", "-c", "echo kept > /root/file"]);
    expect(result.code).toBe(0);
    const created = boxes().filter((id) => !before.has(id));
    expect(created).toHaveLength(1);
    const dir = join(home(), "boxes", created[0] as string);
    expect(existsSync(join(dir, "disks", "disk.qcow2"))).toBe(true);
    expect(existsSync(join(dir, "logs", "console.log"))).toBe(true);
  });
});

test("killing the CLI with SIGKILL leaves no VM running", async () => {
  const before = new Set(boxes());
  let output = "";
  const proc = Bun.spawn(cliCommand(["run", "--rm", "--", "sh", "-c", "echo ready; sleep 600"]), {
    cwd: REPO,
    env: process.env,
    stdout: "pipe",
  });
  void (async () => {
    for await (const chunk of proc.stdout) output += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => output.includes("ready"), 60_000, "the command to start");
  const box = boxes().find((id) => !before.has(id)) as string;
  expect(qemuProcesses(box).length).toBeGreaterThan(0);
  proc.kill("SIGKILL");
  await waitFor(() => qemuProcesses(box).length === 0, 15_000, "QEMU to exit after its CLI died");
  // The next reader finds its owner gone, and an auto-remove box is removed then (so no later test meets it half-way).
  expect((await runCli(["ls", "-a", "--json"])).stdout).not.toContain(box);
});
