/**
 * The one box model end to end, through the CLI on real VMs: what records say, the state
 * machine's implicit boot and its refusals, a main command's held stdin, and the window
 * between a main command's exit and its box being stopped.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { qemuProcesses, runCli, waitFor } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const home = () => process.env.BOXLITE_HOME as string;

interface Stored {
  config: { engine_kind: string; options: Record<string, unknown> };
  state: Record<string, unknown>;
}

/** The box's two JSON blobs, as the database holds them. */
function stored(id: string, at = home()): Stored {
  const db = new Database(join(at, "db", "boxlite.db"), { readonly: true });
  try {
    const row = db
      .query<{ config: string; state: string }, [string]>(
        "SELECT c.json AS config, s.json AS state FROM box_config c JOIN box_state s ON s.id = c.id WHERE c.id = ?1",
      )
      .get(id);
    if (!row) throw new Error(`no box ${id}`);
    return { config: JSON.parse(row.config), state: JSON.parse(row.state) };
  } finally {
    db.close();
  }
}

async function status(ref: string): Promise<string> {
  return (JSON.parse((await runCli(["inspect", ref])).stdout) as Array<{ State: { Status: string } }>)[0]?.State.Status ?? "";
}

test("records say what the box has: the network, detached or not, the reference's engine kind, and the VMM that ran it", async () => {
  const created = (await runCli(["create", "--name", "truthful", "--rm"])).stdout.trim();
  const record = stored(created);
  expect(record.config.engine_kind).toBe("Libkrun");
  expect(record.config.options).toMatchObject({
    network: { Enabled: { allow_net: [] } },
    detach: true,
    auto_remove: true,
    auto_delete: 1,
    cpus: 1,
    memory_mib: 512,
    tty: false,
  });
  expect((await runCli(["rm", "truthful"])).code).toBe(0);

  // A foreground run's box ends with its CLI: not detached. Its state names the VMM that ran it.
  const ran = await runCli(["run", "--name", "foreground", "--", "true"]);
  expect(ran.code).toBe(0);
  const id = JSON.parse((await runCli(["inspect", "foreground"])).stdout)[0].Id as string;
  expect(stored(id).config.options).toMatchObject({
    detach: false,
    auto_remove: false,
    auto_delete: null,
    cmd: ["true"],
    network: { Enabled: { allow_net: [] } },
  });
  expect(stored(id).state).toMatchObject({ status: "stopped", vmm: "qemu", exit_code: 0 });
  expect((await runCli(["rm", "foreground"])).code).toBe(0);
});

test("a box on its image's default command is booted by exec and cp, and its shell waits on a held stdin instead of exiting", async () => {
  // The default image's command is a shell: with /dev/null as stdin it would exit at once.
  const id = (await runCli(["create", "--name", "lazy"])).stdout.trim();
  expect(await status("lazy")).toBe("configured");
  const first = await runCli(["exec", "lazy", "--", "sh", "-c", "echo booted > /root/mark; echo hi"]);
  expect(first).toMatchObject({ code: 0, stdout: "hi\n" });
  expect(await status("lazy")).toBe("running");
  // Still up a moment later: the main shell did not see end-of-file.
  await Bun.sleep(1500);
  expect(await status("lazy")).toBe("running");
  const dest = temp.make("boxlite-model-cp-");
  expect((await runCli(["cp", "lazy:/root/mark", join(dest, "mark")])).code).toBe(0);
  expect(await Bun.file(join(dest, "mark")).text()).toBe("booted\n");

  // Stopped, cp boots it again (the same default command), and its files are there.
  expect((await runCli(["stop", "-t", "1", "lazy"])).code).toBe(0);
  expect(await status("lazy")).toBe("stopped");
  expect((await runCli(["cp", "lazy:/root/mark", join(dest, "again")])).code).toBe(0);
  expect(await status("lazy")).toBe("running");
  expect((await runCli(["rm", "-f", "lazy"])).code).toBe(0);
  expect(qemuProcesses(id)).toEqual([]);
});

test("run -d on the image's default command stays up to be exec'd into", async () => {
  const id = (await runCli(["run", "-d", "--name", "idle"])).stdout.trim();
  await Bun.sleep(1500);
  expect(await status("idle")).toBe("running");
  expect(await runCli(["exec", "idle", "--", "echo", "in"])).toMatchObject({ code: 0, stdout: "in\n" });
  expect((await runCli(["rm", "-f", "idle"])).code).toBe(0);
  expect(qemuProcesses(id)).toEqual([]);
});

test("between its main command's exit and its power-off a box is stopping: exec says so, and a forced rm always succeeds", async () => {
  // The main command exits by itself; each exec that comes after must meet a clear state, never a box that "does not answer".
  const id = (await runCli(["run", "-d", "--name", "ending", "--", "sh", "-c", "sleep 1"])).stdout.trim();
  const answers = new Set<string>();
  let sawStopping = false;
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const result = await runCli(["exec", "ending", "--", "true"]);
    if (result.code === 0) continue;
    answers.add(result.stderr.trim());
    if (/is stopping/.test(result.stderr)) sawStopping = true;
    if (/is stopped/.test(result.stderr)) break;
  }
  for (const answer of answers) expect(answer).toMatch(/is stopping|is stopped|stopped while the command ran/);
  expect(sawStopping || [...answers].some((answer) => /is stopped/.test(answer))).toBe(true);
  expect(await status("ending")).toBe("stopped");
  expect((await runCli(["rm", "ending"])).code).toBe(0);

  // A forced rm in that window goes through and leaves no VM behind.
  const doomed = (await runCli(["run", "-d", "--name", "doomed", "--", "sh", "-c", "sleep 1"])).stdout.trim();
  await waitFor(async () => (await status("doomed")) !== "running", 60_000, "the main command to end");
  expect((await runCli(["rm", "-f", "doomed"])).code).toBe(0);
  expect((await runCli(["ls", "-a", "-q"])).stdout).not.toContain(doomed);
  expect(qemuProcesses(doomed)).toEqual([]);
  expect(qemuProcesses(id)).toEqual([]);
});

test("after a host reboot, boxes that go when they stop are removed, and the others are stopped", async () => {
  const at = temp.make("boxlite-model-reboot-");
  const env = { BOXLITE_HOME: at };
  const keep = (await runCli(["create", "--name", "keep"], { env })).stdout.trim();
  const gone = (await runCli(["create", "--name", "gone", "--rm"], { env })).stdout.trim();
  // As the host left them: both running, on a boot that is over.
  const db = new Database(join(at, "db", "boxlite.db"));
  db.run("UPDATE box_state SET status = 'running', pid = 999999, json = json_set(json, '$.status', 'running', '$.pid', 999999)");
  db.run("UPDATE alive SET boot_id = 'another-boot'");
  db.close();
  expect((await runCli(["ls", "-a", "-q"], { env })).stdout).toBe(`${keep}\n`);
  expect(stored(keep, at).state).toMatchObject({ status: "stopped", pid: null });
  expect(gone).not.toBe(keep);
});
