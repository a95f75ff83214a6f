/**
 * Named volumes through a real `boxlite serve` (no VM): the CLI with `--url`, and the
 * reference's published SDK 0.10 in REST mode (`runtime.volumes`), against one home.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import * as sdk010 from "boxlite-sdk-0.10";
import { runCli } from "../helpers/cli.ts";
import { startServeProcess } from "../helpers/serve.ts";

let server: Subprocess<"ignore", "ignore", "pipe">;
let url = "";
const remote = (args: string[]) => runCli(["--url", url, ...args]);

beforeAll(async () => {
  const serve = await startServeProcess();
  server = serve.proc;
  url = serve.url;
});

afterAll(async () => {
  server?.kill();
  await server?.exited;
});

test("volume create, ls, inspect and rm work with --url as with the home, on the server's volumes", async () => {
  const created = await remote(["volume", "create", "--name", "remote-data"]);
  expect(created).toMatchObject({ code: 0, stderr: "" });
  const id = created.stdout.trim();
  // The server's home is this test's: the local CLI sees the volume too.
  expect(JSON.parse((await runCli(["volume", "inspect", id])).stdout)[0].name).toBe("remote-data");
  expect((await remote(["volume", "ls"])).stdout).toMatch(new RegExp(`${id}\\s+remote-data\\s`));
  const inspected = JSON.parse((await remote(["volume", "inspect", "remote-data"])).stdout);
  expect(inspected).toEqual(JSON.parse((await runCli(["volume", "inspect", "remote-data"])).stdout));
  expect((await remote(["volume", "create", "--name", "remote-data"])).stderr).toContain("already exists");
  expect(await remote(["volume", "rm", "remote-data"])).toMatchObject({ code: 0, stdout: `${id}\n` });
  const again = await remote(["volume", "rm", "remote-data"]);
  expect(again.code).toBe(1);
  expect(again.stderr).toContain("no such volume");
  expect(await remote(["volume", "rm", "-f", "remote-data"])).toMatchObject({ code: 0, stdout: "" });
});

test("the published SDK 0.10 in REST mode creates, lists, gets and removes a volume", async () => {
  const volumes = sdk010.JsBoxlite.rest(new sdk010.BoxliteRestOptions({ url })).volumes;
  const named = await volumes.create("sdk-data");
  // Fields one by one: bun's toMatchObject with asymmetric matchers writes the matchers into the native SDK's object.
  expect(named.id).toMatch(/^[0-9a-z]{26}$/);
  expect(named.name).toBe("sdk-data");
  expect(Number.isNaN(Date.parse(named.createdAt))).toBe(false);
  const unnamed = await volumes.create();
  expect(unnamed.name).toBe(unnamed.id);
  const listed = await volumes.list();
  expect(listed.map((volume) => volume.id)).toEqual(expect.arrayContaining([named.id, unnamed.id]));
  expect(await volumes.get(named.id)).toMatchObject({ id: named.id, name: "sdk-data" });
  await volumes.remove(named.id);
  await volumes.remove(unnamed.id, false);
  await expect(volumes.get(named.id)).rejects.toThrow();
  await volumes.remove(named.id, true);
  expect((await volumes.list()).map((volume) => volume.id)).not.toContain(named.id);
});
