/** `boxlite volume create|ls|inspect|rm` as a user runs them: no VM needed. */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runCli } from "../helpers/cli.ts";

const home = () => process.env.BOXLITE_HOME as string;

test("create prints the id; ls, inspect and rm find the volume by name or id", async () => {
  const created = await runCli(["volume", "create", "--name", "cli-data"]);
  expect(created).toMatchObject({ code: 0, stderr: "" });
  const id = created.stdout.trim();
  expect(id).toMatch(/^[0-9a-z]{26}$/);
  expect(existsSync(join(home(), "volumes", "named", id, "data"))).toBe(true);

  const listed = await runCli(["volume", "ls"]);
  expect(listed.code).toBe(0);
  expect(listed.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+CREATED$/);
  expect(listed.stdout).toMatch(new RegExp(`${id}\\s+cli-data\\s+\\d{4}-`));
  expect((await runCli(["volume", "list", "-q"])).stdout.split("\n")).toContain(id);
  const json = JSON.parse((await runCli(["volume", "ls", "--json"])).stdout) as Array<{ id: string; name: string }>;
  expect(json.find((volume) => volume.id === id)?.name).toBe("cli-data");

  const inspected = await runCli(["volume", "inspect", "cli-data"]);
  expect(inspected.code).toBe(0);
  expect(JSON.parse(inspected.stdout)).toEqual([{ id, name: "cli-data", created_at: expect.any(String), updated_at: expect.any(String) }]);
  expect(JSON.parse((await runCli(["volume", "get", id.slice(0, 20)])).stdout)[0].id).toBe(id);

  expect(await runCli(["volume", "rm", "cli-data"])).toMatchObject({ code: 0, stdout: `${id}\n`, stderr: "" });
  expect(existsSync(join(home(), "volumes", "named", id))).toBe(false);
  expect((await runCli(["volume", "ls", "-q"])).stdout.split("\n")).not.toContain(id);
});

test("a volume created without a name is named after its id", async () => {
  const id = (await runCli(["volume", "create"])).stdout.trim();
  expect(JSON.parse((await runCli(["volume", "inspect", id])).stdout)[0].name).toBe(id);
  expect((await runCli(["volume", "delete", id])).code).toBe(0);
});

test("rm of an unknown volume fails with exit 1 and goes on with the others; rm -f ignores it", async () => {
  const id = (await runCli(["volume", "create", "--name", "cli-kept-going"])).stdout.trim();
  const result = await runCli(["volume", "rm", "cli-no-such", "cli-kept-going"]);
  expect(result).toMatchObject({ code: 1, stdout: `${id}\n` });
  expect(result.stderr).toContain('no such volume: "cli-no-such"');
  expect(await runCli(["volume", "rm", "-f", "cli-no-such"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
  const inspect = await runCli(["volume", "inspect", "cli-no-such"]);
  expect(inspect.code).toBe(1);
  expect(JSON.parse(inspect.stdout)).toEqual([]);
});

test("a taken name fails with exit 1, a bad name with exit 1, a usage mistake with exit 2", async () => {
  expect((await runCli(["volume", "create", "--name", "cli-twice"])).code).toBe(0);
  const twice = await runCli(["volume", "create", "--name", "cli-twice"]);
  expect(twice).toMatchObject({ code: 1, stdout: "" });
  expect(twice.stderr).toContain('a volume named "cli-twice" already exists');
  const bad = await runCli(["volume", "create", "--name=a/b"]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("invalid volume name");
  expect((await runCli(["volume", "create", "positional"])).code).toBe(2);
  expect((await runCli(["volume", "rm"])).code).toBe(2);
  expect((await runCli(["volume", "inspect"])).code).toBe(2);
  expect((await runCli(["volume", "ls", "--bogus"])).code).toBe(2);
  expect((await runCli(["volume", "prune"])).code).toBe(2);
  expect((await runCli(["volume"])).code).toBe(2);
  const help = await runCli(["volume", "rm", "--help"]);
  expect(help).toMatchObject({ code: 0, stdout: expect.stringContaining("Usage: boxlite volume rm [-f]") });
  expect((await runCli(["--help"])).stdout).toContain("volume   Create, list, inspect and remove named volumes");
});

test("rm refuses a volume a box uses and names the box; rm -f removes it anyway", async () => {
  const id = (await runCli(["volume", "create", "--name", "cli-in-use"])).stdout.trim();
  // A box record that mounts the volume, as the mounts code writes it (no VM is started).
  const script = `
    import { openHome } from "./src/runtime/home.ts";
    import { loadConfig } from "./src/config/config.ts";
    import { insertBoxUsingVolume } from "./test/helpers/volumes.ts";
    const home = await openHome(loadConfig({}));
    insertBoxUsingVolume(home, "cli-volume-user", ${JSON.stringify(id)});
    home.close();`;
  const insert = Bun.spawnSync([process.execPath, "-e", script], { cwd: join(import.meta.dir, "..", ".."), env: process.env });
  expect(insert.exitCode).toBe(0);
  const refused = await runCli(["volume", "rm", "cli-in-use"]);
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("cli-volume-user");
  expect((await runCli(["volume", "ls", "-q"])).stdout.split("\n")).toContain(id);
  expect(await runCli(["volume", "rm", "-f", "cli-in-use"])).toMatchObject({ code: 0, stdout: `${id}\n` });
  expect(await runCli(["rm", "-f", "cli-volume-user"])).toMatchObject({ code: 0 });
});
