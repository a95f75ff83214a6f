/**
 * The home through the CLI: boxes are recorded in the database, listed and inspected
 * (ours and the reference's), other processes read while a box runs, and a home from a
 * newer boxlite is refused.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { insertBox } from "../../src/db/boxes.ts";
import { openDatabase } from "../../src/db/database.ts";
import { cliCommand, REPO, runCli, waitFor } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

interface ListedBox {
  box_id: string;
  status: string;
  exit_code: number | null;
  pid: number | null;
  image: string;
  cpus: number;
  memory_mib: number;
}

async function listAll(env: Record<string, string> = {}): Promise<ListedBox[]> {
  const result = await runCli(["ls", "-a", "--json"], { env });
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as ListedBox[];
}

test("a box run without --rm is recorded as stopped with its exit code, and inspect finds it by prefix", async () => {
  const before = new Set((await listAll()).map((box) => box.box_id));
  const run = await runCli(["run", "--cpus", "2", "--memory", "256", "--", "sh", "-c", "exit 4"]);
  expect({ code: run.code, stderr: run.stderr }).toEqual({ code: 4, stderr: "" });
  const created = (await listAll()).filter((box) => !before.has(box.box_id));
  expect(created).toHaveLength(1);
  const box = created[0] as ListedBox;
  expect(box).toMatchObject({ status: "stopped", exit_code: 4, pid: null, image: "boxlite/default:latest", cpus: 2, memory_mib: 256 });

  const inspected = await runCli(["inspect", box.box_id.slice(0, 20)]);
  expect(inspected.code).toBe(0);
  expect(JSON.parse(inspected.stdout)).toEqual([
    expect.objectContaining({ Id: box.box_id, Status: "stopped", State: expect.objectContaining({ ExitCode: 4, Running: false }), Memory: 256 * 1024 * 1024 }),
  ]);
  // The default listing shows only boxes with a VM.
  expect((await runCli(["ls", "-q"])).stdout.split("\n")).not.toContain(box.box_id);
});

test("a --rm box leaves no row behind", async () => {
  const before = (await listAll()).length;
  expect((await runCli(["run", "--rm", "--", "true"])).code).toBe(0);
  expect((await listAll()).length).toBe(before);
});

test("ls and inspect answer while another process runs a box in the foreground", async () => {
  const before = new Set((await listAll()).map((box) => box.box_id));
  let output = "";
  const proc = Bun.spawn(cliCommand(["run", "--rm", "--", "sh", "-c", "echo ready; sleep 600"]), { cwd: REPO, env: process.env, stdout: "pipe" });
  const reader = (async () => {
    for await (const chunk of proc.stdout) output += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => output.includes("ready"), 60_000, "the box to start");
  // Only boxes with a VM are listed by default; earlier tests may have left some (a SIGKILLed CLI's).
  const running = (await runCli(["ls", "--json"])).stdout;
  const boxes = (JSON.parse(running) as ListedBox[]).filter((box) => !before.has(box.box_id));
  expect(boxes).toHaveLength(1);
  expect(boxes[0]).toMatchObject({ status: "running" });
  expect(boxes[0]?.pid).toBeGreaterThan(0);
  const inspected = await runCli(["inspect", boxes[0]?.box_id as string]);
  expect(JSON.parse(inspected.stdout)[0].State).toMatchObject({ Running: true, Status: "running" });
  proc.kill("SIGTERM");
  await proc.exited;
  await reader;
});

test("boxes written by the reference boxlite are listed and inspected, unknown fields and all", async () => {
  const home = temp.make("boxlite-ref-home-");
  const env = { BOXLITE_HOME: home };
  expect((await runCli(["ls"], { env })).code).toBe(0); // creates the v9 home
  const database = openDatabase({ home });
  insertBox(
    database.db,
    {
      id: "refbox_01",
      name: "web",
      created_at: "2026-07-01T10:00:00Z",
      container: { id: "a".repeat(64) },
      options: {
        cpus: 2,
        memory_mib: 1024,
        rootfs: { Image: "alpine:latest" },
        env: [["A", "1"]],
        network: { Enabled: { allow_net: [] } },
        future_field: { x: 1 },
      },
      engine_kind: "Libkrun",
      box_home: join(home, "boxes", "refbox_01"),
    },
    {
      status: "stopped",
      pid: null,
      container_id: "a".repeat(64),
      last_updated: "2026-07-01T11:00:00Z",
      lock_id: 3,
      exit_code: 0,
      health_status: { state: "None", failures: 0, last_check: null },
    },
  );
  database.close();
  const listed = await listAll(env);
  expect(listed).toEqual([
    expect.objectContaining({ box_id: "refbox_01", image: "alpine:latest", cpus: 2, memory_mib: 1024, status: "stopped", exit_code: 0 }),
  ]);
  const byName = await runCli(["inspect", "web"], { env });
  expect(JSON.parse(byName.stdout)[0]).toMatchObject({ Id: "refbox_01", Name: "web", Image: "alpine:latest", Memory: 1024 * 1024 * 1024 });
  const table = await runCli(["ls", "-a"], { env });
  expect(table.stdout).toMatch(/^refbox_01\s+alpine:latest\s+Exited \(0\)\s+2026-07-01T10:00:00Z\s+web$/m);
});

test("an unknown box is a clear error", async () => {
  const missing = await runCli(["inspect", "no-such-box"]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain('no box "no-such-box"');
});

test("a home written by a newer boxlite is refused and left alone", async () => {
  const home = temp.make("boxlite-new-home-");
  const env = { BOXLITE_HOME: home };
  expect((await runCli(["ls"], { env })).code).toBe(0);
  const database = openDatabase({ home });
  database.db.run("UPDATE schema_version SET version = 10");
  database.close();
  const bytes = await Bun.file(join(home, "db", "boxlite.db")).bytes();
  const result = await runCli(["ls"], { env });
  expect(result.code).toBe(1);
  expect(result.stderr).toMatch(/newer boxlite.*upgrade/i);
  expect(await Bun.file(join(home, "db", "boxlite.db")).bytes()).toEqual(bytes);
});

test("a relative --home is resolved against the working directory, and said so", async () => {
  const cwd = temp.make("boxlite-cwd-");
  writeFileSync(join(cwd, "marker"), "");
  const result = await runCli(["--home", "rel-home", "ls"], { cwd });
  expect(result.code).toBe(0);
  expect(result.stderr).toContain(`using home ${join(cwd, "rel-home")}`);
  expect(await Bun.file(join(cwd, "rel-home", "db", "boxlite.db")).exists()).toBe(true);
});

test("--name names a box: ls shows it, inspect and rm take it, and a taken name is refused", async () => {
  const name = `web-${Date.now()}`;
  expect((await runCli(["run", "--name", name, "--", "true"])).code).toBe(0);
  expect((await runCli(["ls", "-a"])).stdout).toMatch(new RegExp(`Exited \\(0\\)\\s+\\S+\\s+${name}$`, "m"));
  expect(JSON.parse((await runCli(["inspect", name])).stdout)[0].Name).toBe(name);
  const taken = await runCli(["run", "--name", name, "--", "true"]);
  expect(taken.code).toBe(125);
  expect(taken.stderr).toContain(`the name "${name}" is already used by another box`);
  expect((await runCli(["rm", name])).code).toBe(0);
  expect((await runCli(["run", "--rm", "--name", name, "--", "true"])).code).toBe(0);
});

test("a malformed --name is refused before anything starts", async () => {
  const result = await runCli(["run", "--name", "bad name!", "--", "true"]);
  expect(result.code).toBe(125);
  expect(result.stderr).toContain('invalid box name "bad name!"');
});
