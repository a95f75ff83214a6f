/** Records brought back in line with reality when a box's boxlite process died. */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, lstatSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { boxIds, runningBox } from "../helpers/boxes.ts";
import { cliCommand, qemuProcesses, REPO, runCli, waitFor } from "../helpers/cli.ts";
import { TempDirs } from "../helpers/temp.ts";
import { FileLock } from "../../src/util/flock.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const home = () => process.env.BOXLITE_HOME as string;

test("a box whose CLI was killed is shown as failed with the reason, not as running", async () => {
  const { proc, id } = await runningBox();
  proc.kill("SIGKILL");
  await waitFor(() => qemuProcesses(id).length === 0, 15_000, "the VM to die with its CLI");
  const listed = JSON.parse((await runCli(["ls", "-a", "--json"])).stdout) as Array<{
    box_id: string;
    status: string;
    pid: number | null;
    error_reason: string;
  }>;
  expect(listed.find((box) => box.box_id === id)).toMatchObject({
    status: "failed",
    pid: null,
    error_reason: expect.stringContaining("its boxlite process died"),
  });
  expect((await runCli(["ls", "-q"])).stdout).not.toContain(id);
});

test("an auto-remove box whose CLI was killed is removed the next time boxes are read", async () => {
  const before = new Set(await boxIds());
  let output = "";
  const proc = Bun.spawn(cliCommand(["run", "--rm", "--", "sh", "-c", "echo ready; sleep 600"]), { cwd: REPO, env: process.env, stdout: "pipe" });
  void (async () => {
    for await (const chunk of proc.stdout) output += new TextDecoder().decode(chunk);
  })();
  await waitFor(() => output.includes("ready"), 60_000, "the box to start");
  const id = (await boxIds()).find((candidate) => !before.has(candidate)) as string;
  proc.kill("SIGKILL");
  await waitFor(() => qemuProcesses(id).length === 0, 15_000, "the VM to die with its CLI");
  expect(existsSync(join(home(), "boxes", id))).toBe(true);
  expect(await boxIds()).not.toContain(id);
  expect(existsSync(join(home(), "boxes", id))).toBe(false);
});

test("after a host reboot, box directories without a record and dangling socket links are swept", async () => {
  const home = temp.make("boxlite-reboot-home-");
  const env = { BOXLITE_HOME: home };
  expect((await runCli(["ls"], { env })).code).toBe(0);
  const kept = (await runCli(["create", "--", "true"], { env })).stdout.trim();
  // A record-less directory is an orphan at once (a removal killed midway left it), unless its
  // lock is held: a clone or import makes its directory, under the new box's lock, before its record.
  mkdirSync(join(home, "boxes", "orphan-dir", "disks"), { recursive: true });
  mkdirSync(join(home, "boxes", "being-made", "disks"), { recursive: true });
  const making = FileLock.tryAcquire(join(home, "locks", "being-made"), "test: a clone making it");
  if (!(making instanceof FileLock)) throw new Error("the test's lock is taken");
  const socketDir = join(tmpdir(), `bl-${process.getuid?.() ?? 0}`);
  mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  symlinkSync(join(home, "boxes", "gone", "sockets"), join(socketDir, "dangling-test-link"));
  // The database says the host booted differently last time: the next open recovers.
  const database = new Database(join(home, "db", "boxlite.db"));
  database.run("UPDATE alive SET boot_id = 'another-boot'");
  database.close();
  expect((await runCli(["ls", "-a", "-q"], { env })).stdout).toBe(`${kept}\n`);
  expect(readdirSync(join(home, "boxes")).sort()).toEqual(["being-made", kept].sort());
  making.release();
  // lstat, not exists: a dangling link "does not exist" to existsSync even while it is there.
  expect(() => lstatSync(join(socketDir, "dangling-test-link"))).toThrow(/ENOENT/);
});
