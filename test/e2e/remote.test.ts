/**
 * The CLI against a real `boxlite serve` (`--url`), command by command against the same
 * CLI on the same home: the same output and exit codes, or a clear `unsupported` where the
 * REST API has no route. One box is shared (two boots: `run -d`, and `start` after `stop`);
 * a second server with an API key boots nothing. A foreground `run --url` boots its own
 * box each time (two runs compared with the local run, four remote only: eight boots).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/index.ts";
import { AttachClient } from "../helpers/api.ts";
import { cliCommand, REPO, runAndTerminate, runCli, runInResizedTerminal, waitFor } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { startServeProcess } from "../helpers/serve.ts";

const KEY = "remote-test-key";
const temp = new TempDirs();
const work = temp.make("boxlite-remote-");
const servers: Array<Subprocess<"ignore", "ignore", "pipe">> = [];

async function startServer(extra: string[] = []): Promise<string> {
  const server = await startServeProcess(extra);
  servers.push(server.proc);
  return server.url;
}

let url = "";
const remote = (args: string[], options: Parameters<typeof runCli>[1] = {}) => runCli(["--url", url, ...args], options);

/** Runs `args` locally and through the server; both must agree on stdout, stderr and code. */
async function expectSame(args: string[], stdin?: string) {
  const [local, viaServer] = await Promise.all([runCli(args, stdin === undefined ? {} : { stdin }), remote(args, stdin === undefined ? {} : { stdin })]);
  expect({ code: viaServer.code, stdout: viaServer.stdout, stderr: viaServer.stderr }).toEqual({
    code: local.code,
    stdout: local.stdout,
    stderr: local.stderr,
  });
  return local;
}

beforeAll(async () => {
  url = await startServer();
  const run = await remote(["run", "-d", "--name", "shared", "--memory", "256", "--", "sleep", "3600"]);
  expect(run.stderr).toBe("");
  expect(run.code).toBe(0);
  expect(run.stdout).toMatch(/^[0-9a-z]+\n$/);
});

afterAll(async () => {
  for (const server of servers) {
    server.kill();
    await server.exited;
  }
  temp.removeAll();
});

test("ls -a --json and inspect print the same through the server", async () => {
  const listed = await expectSame(["ls", "-a", "--json"]);
  expect(JSON.parse(listed.stdout).map((box: { name: string | null }) => box.name)).toContain("shared");
  await expectSame(["ls"]);
  await expectSame(["inspect", "shared"]);
});

test("exec gives the same output and exit code, 127 for a missing command", async () => {
  const ran = await expectSame(["exec", "shared", "--", "sh", "-c", "echo out; echo err >&2; exit 3"]);
  expect(ran).toMatchObject({ code: 3, stdout: "out\n", stderr: "err\n" });
  const missing = await expectSame(["exec", "shared", "--", "no-such-command"]);
  expect(missing.code).toBe(127);
  expect((await expectSame(["exec", "-i", "shared", "--", "cat"], "piped in\n")).stdout).toBe("piped in\n");
  expect((await expectSame(["exec", "-e", "GREETING=hi", "-w", "/tmp", "shared", "--", "sh", "-c", "echo $GREETING $PWD"])).stdout).toBe("hi /tmp\n");
});

test("cp copies both ways through the server with docker's placement rules", async () => {
  writeFileSync(join(work, "in.txt"), "into the box\n");
  mkdirSync(join(work, "tree", "sub"), { recursive: true });
  writeFileSync(join(work, "tree", "sub", "leaf"), "leaf\n");
  expect((await remote(["cp", join(work, "in.txt"), "shared:/tmp"])).code).toBe(0);
  expect((await remote(["cp", join(work, "in.txt"), "shared:/tmp/renamed.txt"])).code).toBe(0);
  expect((await remote(["cp", join(work, "tree"), "shared:/tmp"])).code).toBe(0);
  // A destination that does not exist takes the source's place, as locally.
  expect((await remote(["cp", join(work, "tree"), "shared:/srv"])).code).toBe(0);
  expect((await runCli(["cp", join(work, "tree"), "shared:/opt"])).code).toBe(0);
  const seen = await runCli(["exec", "shared", "--", "sh", "-c", "cat /tmp/in.txt /tmp/renamed.txt /tmp/tree/sub/leaf /srv/sub/leaf /opt/sub/leaf"]);
  expect(seen.stdout).toBe("into the box\ninto the box\nleaf\nleaf\nleaf\n");

  expect((await remote(["cp", "shared:/tmp/renamed.txt", join(work, "out.txt")])).code).toBe(0);
  expect(readFileSync(join(work, "out.txt"), "utf8")).toBe("into the box\n");
  mkdirSync(join(work, "outdir"));
  expect((await remote(["cp", "shared:/tmp/tree", join(work, "outdir")])).code).toBe(0);
  expect(readFileSync(join(work, "outdir", "tree", "sub", "leaf"), "utf8")).toBe("leaf\n");
  expect((await remote(["cp", "shared:/tmp/tree/.", join(work, "contents")])).code).toBe(0);
  expect(readFileSync(join(work, "contents", "sub", "leaf"), "utf8")).toBe("leaf\n");
  expect((await expectSame(["cp", "shared:/no/such/file", join(work, "x")])).stderr).toContain("does not exist");
  // The file is refused on the host side before anything is sent, with the local message.
  expect((await expectSame(["cp", join(work, "absent"), "shared:/tmp"])).code).toBe(1);
});

test("stats --json has the local fields and values for the box", async () => {
  const [local, viaServer] = await Promise.all([runCli(["stats", "--json", "shared"]), remote(["stats", "--json", "shared"])]);
  expect(viaServer.code).toBe(0);
  const [l, r] = [JSON.parse(local.stdout)[0], JSON.parse(viaServer.stdout)[0]];
  expect(Object.keys(r).sort()).toEqual(Object.keys(l).sort());
  expect({ ...r, cpu_percent: 0, memory_bytes: 0, uptime_seconds: 0 }).toEqual({ ...l, cpu_percent: 0, memory_bytes: 0, uptime_seconds: 0 });
  expect(r.memory_bytes).toBeGreaterThan(0);
});

test("images print the same through the server", async () => {
  await expectSame(["images", "--json"]);
  await expectSame(["images"]);
});

test("errors and idempotent answers read and exit the same: an unknown box, a box already running", async () => {
  expect((await expectSame(["inspect", "nosuchbox"])).code).toBe(1);
  expect((await expectSame(["rm", "nosuchbox"])).stderr).toContain('no box "nosuchbox"');
  expect((await expectSame(["exec", "nosuchbox", "--", "true"])).code).toBe(125);
  expect((await expectSame(["stop", "nosuchbox"])).code).toBe(1);
  // Start is idempotent: a running box is left running, and its id printed.
  expect(await expectSame(["start", "shared"])).toMatchObject({ code: 0, stderr: "" });
  expect((await expectSame(["rm", "shared"])).stderr).toContain("stop it first");
});

test("what the REST API cannot do is refused as unsupported, saying what to use", async () => {
  const logs = await remote(["logs", "shared"]);
  expect(logs.code).toBe(1);
  expect(logs.stderr).toContain("not supported against a server");
  expect((await remote(["info"])).stderr).toContain("not supported against a server");
  expect((await remote(["serve"])).code).toBe(2);
  // The server picks its own VMM: a client's --vmm would be silently ignored, so it is refused.
  const vmm = await remote(["--vmm", "krun", "ls"]);
  expect(vmm.code).toBe(2);
  expect(vmm.stderr).toBe(`boxlite: --vmm picks this host's VMM; the server at ${url} uses its own (start it with 'boxlite --vmm krun serve')\n`);
});

const boxIds = async () => (JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{ box_id: string }>).map((box) => box.box_id).sort();
const inspect = async (box: string) => JSON.parse((await runCli(["inspect", box])).stdout)[0];

test("run in the foreground prints and exits as the local run, 127 with its message for a missing command; --rm leaves no box", async () => {
  const before = await boxIds();
  expect(await expectSame(["run", "--rm", "--", "sh", "-c", "echo out; echo err >&2; exit 7"])).toMatchObject({ code: 7, stdout: "out\n", stderr: "err\n" });
  const missing = await expectSame(["run", "--rm", "--", "no-such-command"]);
  expect(missing.code).toBe(127);
  expect(missing.stderr).toContain("no-such-command");
  expect(await boxIds()).toEqual(before);
});

test("run -i pipes 1 MiB through cat byte-exact; without --rm the box is kept, stopped with the exit code", async () => {
  const input = new Uint8Array(1024 * 1024);
  for (let i = 0; i < input.length; i += 65536) crypto.getRandomValues(input.subarray(i, i + 65536));
  const result = await remote(["run", "-i", "--name", "piped", "--memory", "256", "--", "cat"], { stdin: input });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  expect(result.stdoutBytes.length).toBe(input.length);
  expect(Buffer.compare(result.stdoutBytes, input)).toBe(0);
  // The run returns once the box is down, as locally.
  expect((await inspect("piped")).State).toMatchObject({ Status: "stopped", ExitCode: 0 });
  expect((await remote(["rm", "piped"])).code).toBe(0);
});

test("while a run --url is attached a second attach gets 409; the run going away does not end its main command", async () => {
  const proc = Bun.spawn(
    cliCommand(["--url", url, "run", "-i", "--name", "watched", "--memory", "256", "--", "sh", "-c", 'echo ready; read line; echo "got $line"; exit 4']),
    {
      cwd: REPO,
      env: process.env,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  let output = "";
  void (async () => {
    for await (const chunk of proc.stdout) output += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => output.includes("ready"), 60_000, "the main command to start");
  const id = (await inspect("watched")).Id as string;
  const second = await fetch(`${url}/v1/boxes/${id}/attach`, { headers: { Upgrade: "websocket", Connection: "Upgrade" } });
  expect(second.status).toBe(409);
  await expect(AttachClient.open(`${url.replace("http", "ws")}/v1/boxes/${id}/attach`)).rejects.toThrow();

  proc.kill("SIGKILL");
  await proc.exited;
  expect((await inspect("watched")).State.Status).toBe("running");
  // Its stdin is still open (the server holds it): a new client feeds the line it waits for.
  const client = await AttachClient.open(`${url.replace("http", "ws")}/v1/boxes/${id}/attach`);
  await client.waitForStdout("ready\n");
  client.sendBytes("again\n");
  expect(await client.whenClosed()).toBe(1000);
  expect(client.stdoutText()).toBe("ready\ngot again\n");
  expect(client.texts).toEqual([{ type: "exit", exit_code: 4 }]);
  await waitFor(async () => (await inspect("watched")).State.Status === "stopped", 60_000, "the box to stop");
  expect((await inspect("watched")).State.ExitCode).toBe(4);
  expect((await remote(["rm", "watched"])).code).toBe(0);
});

test("SIGTERM to run --url reaches the main command, as locally", async () => {
  expect(await runAndTerminate(["--url", url])).toEqual({ code: 5, stdout: "ready\ngot TERM\n" });
});

test("run --url -t gives the command a terminal of the host's size that follows it", async () => {
  expect(await runInResizedTerminal(["--url", url])).toBe(3);
});

test("create, then rm, through the server", async () => {
  const created = await remote(["create", "--name", "made", "--", "echo", "hi"]);
  expect(created.code).toBe(0);
  const id = created.stdout.trim();
  expect(JSON.parse((await runCli(["inspect", "made"])).stdout)[0]).toMatchObject({ Id: id });
  expect((await remote(["rm", "made"])).stdout).toBe(`${id}\n`);
  expect((await runCli(["inspect", "made"])).code).toBe(1);
});

test("connect({ url }) and connect({}) list the same boxes", async () => {
  const [viaServer, local] = await Promise.all([connect({ url }).listBoxes({ all: true }), connect({}).listBoxes({ all: true })]);
  expect(viaServer.map((box) => box.box_id)).toEqual(local.map((box) => box.box_id));
  expect(viaServer).toEqual(local);
});

test("a server with an API key: BOXLITE_API_KEY opens it, a wrong or missing key is a clear error", async () => {
  const keyed = await startServer(["--api-key", KEY]);
  const none = await runCli(["--url", keyed, "ls"]);
  expect(none.code).toBe(1);
  expect(none.stderr).toContain("set BOXLITE_API_KEY");
  const wrong = await runCli(["--url", keyed, "ls"], { env: { BOXLITE_API_KEY: "wrong" } });
  expect(wrong.code).toBe(1);
  expect(wrong.stderr).toContain("refused the request");
  const right = await runCli(["ls", "-a", "--json"], { env: { BOXLITE_URL: keyed, BOXLITE_API_KEY: KEY } });
  expect(right.code).toBe(0);
  expect(right.stdout).toBe((await runCli(["ls", "-a", "--json"])).stdout);
  // The reference's variable works as well.
  expect((await runCli(["ls"], { env: { BOXLITE_REST_URL: keyed, BOXLITE_API_KEY: KEY } })).code).toBe(0);
});

test("stop, start and rm through the server", async () => {
  expect((await remote(["stop", "shared"])).code).toBe(0);
  expect(JSON.parse((await runCli(["inspect", "shared"])).stdout)[0].State.Status).toBe("stopped");
  expect((await remote(["start", "shared"])).code).toBe(0);
  expect((await remote(["exec", "shared", "--", "echo", "again"])).stdout).toBe("again\n");
  expect((await remote(["rm", "-f", "shared"])).code).toBe(0);
  expect((await runCli(["inspect", "shared"])).code).toBe(1);
});
