/**
 * Moving a suspended box with its memory, on real VMs: `export` of a suspended box carries its
 * saved state (archive v6), `import` into another home — with its own runtime directory, so
 * another kernel and system disk path, as on another machine — makes a suspended box, and
 * `resume` there goes on counting from where the box was, with its hostname. The exported box
 * keeps its state. A server refuses such an archive (QEMU trusts a saved state), and a
 * tampered state is refused by the import, leaving nothing behind.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { startApi, type TestApi } from "../helpers/api.ts";
import { runCli, waitFor } from "../helpers/cli.ts";
import { shIn } from "../helpers/boxes.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const temp = new TempDirs();
const work = temp.make("boxlite-suspend-move-");
/** Another home, with its own runtime directory (kernel, system disk, templates). */
const OTHER = { BOXLITE_HOME: join(work, "home"), BOXLITE_RUNTIME_DIR: join(work, "runtimes") };
const NAME = "e2e-moved";
const MAIN = "i=0; while :; do i=$((i+1)); echo $i > /main; sleep 0.2; done";
let api: TestApi;
let archive: string;
let counted: number;
let hostname: string;

/** The counter: read again while the loop is between truncating and writing it, or has not written it yet (a box just started). */
async function counter(box: string, env: Record<string, string> = {}): Promise<number> {
  let value = Number.NaN;
  await waitFor(
    async () => {
      value = Number(await shIn(box, "cat /main 2>/dev/null || true", env));
      return value > 0;
    },
    30_000,
    "the counter to be readable",
  );
  return value;
}

beforeAll(async () => {
  api = startApi(runtime);
  const created = await runCli(["run", "-d", "--name", NAME, "--network", "disabled", "--", "sh", "-c", MAIN]);
  expect(created.code, created.stderr).toBe(0);
  await waitFor(async () => (await counter(NAME)) > 3, 60_000, "the counter to start");
  hostname = await shIn(NAME, "hostname");
  counted = await counter(NAME);
  expect((await runCli(["suspend", NAME])).code).toBe(0);
  const exported = await runCli(["export", NAME, "-o", join(work, "moved.boxlite")]);
  expect(exported.code, exported.stderr).toBe(0);
  archive = exported.stdout.trim();
});

afterAll(async () => {
  await api.close();
  await runCli(["rm", "-f", NAME]);
  await runCli(["rm", "-a", "-f"], { env: OTHER });
  temp.removeAll();
});

test("the archive of a suspended box carries its memory and is stamped version 6; the box keeps its own", async () => {
  const listing = Bun.spawnSync(["tar", "--zstd", "-tf", archive]).stdout.toString().trim().split("\n");
  expect(listing).toEqual(["manifest.json", "disk.qcow2", "memory.state"]);
  const manifest = JSON.parse(Bun.spawnSync(["tar", "--zstd", "-xOf", archive, "manifest.json"]).stdout.toString());
  expect(manifest.version).toBe(6);
  expect(manifest.memory).toMatchObject({ vmm: "qemu", hostname });
  expect(manifest.memory_checksum).toBe(`sha256:${manifest.memory.state_sha256}`);
  expect(await runtime.getBox(NAME)).toMatchObject({ status: "stopped", suspended: true });
});

test("imported into another home, the box is suspended and resumes where it was, with its hostname", async () => {
  const imported = await runCli(["import", "--name", "arrived", archive], { env: OTHER });
  expect(imported.code, imported.stderr).toBe(0);
  expect((await runCli(["ls", "-a"], { env: OTHER })).stdout).toContain("Stopped (suspended)");
  const resumed = await runCli(["resume", "arrived"], { env: OTHER });
  expect(resumed.code, resumed.stderr).toBe(0);
  const after = await counter("arrived", OTHER);
  // Where it was when suspended (5 a second while it runs), not from 0 as after a boot.
  expect(after).toBeGreaterThanOrEqual(counted);
  expect(after - counted).toBeLessThan(25);
  await waitFor(async () => (await counter("arrived", OTHER)) > after + 2, 30_000, "the counter to go on");
  expect(await shIn("arrived", "hostname", OTHER)).toBe(hostname);
});

test("the exported box still resumes in its own home", async () => {
  expect((await runCli(["resume", NAME])).code).toBe(0);
  expect(await counter(NAME)).toBeGreaterThanOrEqual(counted);
});

test("a server refuses an archive with memory: it does not load a saved state it was sent", async () => {
  const before = (await runtime.listBoxes({ all: true })).length;
  const response = await fetch(`${api.httpBase}/boxes/import`, { method: "POST", body: Bun.file(archive) });
  expect(response.status).toBe(400);
  expect(await response.text()).toContain("carries a suspended box's memory, which a server does not load");
  expect((await runtime.listBoxes({ all: true })).length).toBe(before);
});

test("an archive whose memory.state was changed is refused, and nothing is left", async () => {
  const unpacked = join(work, "unpacked");
  mkdirSync(unpacked);
  expect(Bun.spawnSync(["tar", "--zstd", "-xf", archive, "-C", unpacked]).exitCode).toBe(0);
  const state = readFileSync(join(unpacked, "memory.state"));
  const middle = Math.floor(state.length / 2);
  state[middle] = (state[middle] ?? 0) ^ 0xff;
  writeFileSync(join(unpacked, "memory.state"), state);
  const tampered = join(work, "tampered.boxlite");
  expect(Bun.spawnSync(["tar", "--zstd", "-cf", tampered, "-C", unpacked, "manifest.json", "disk.qcow2", "memory.state"]).exitCode).toBe(0);
  const boxes = readdirSync(join(OTHER.BOXLITE_HOME, "boxes")).length;
  const refused = await runCli(["import", tampered], { env: OTHER });
  expect(refused.code).not.toBe(0);
  expect(refused.stderr).toContain("memory.state does not match its checksum");
  expect(readdirSync(join(OTHER.BOXLITE_HOME, "boxes")).length).toBe(boxes);
  expect(readdirSync(join(OTHER.BOXLITE_HOME, "tmp")).filter((name) => name.startsWith("import-"))).toEqual([]);
});
