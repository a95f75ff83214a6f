/**
 * REST `advanced.capabilities` on a real box: the policy a create asks for is what the box's
 * commands hold, it survives an export (archive v4, the reference's shape) and an import, and
 * an unknown name is a 400 naming the field before anything is made.
 */
import { afterAll, expect, test } from "bun:test";
import { join } from "node:path";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { AttachClient, jsonRequest, startApi } from "../helpers/api.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const api = startApi(runtime);
const temp = new TempDirs();
const made: string[] = [];

afterAll(async () => {
  await api.close();
  for (const id of made) await runtime.removeBox(id, { force: true });
  temp.removeAll();
});

/** The CapEff line of a command run over REST in `box`. */
async function capEff(box: string): Promise<string> {
  const started = await api.app.request(`/v1/boxes/${box}/exec`, jsonRequest("POST", { command: "grep", args: ["CapEff", "/proc/self/status"] }));
  expect(started.status).toBe(201);
  const { execution_id } = (await started.json()) as { execution_id: string };
  const client = await AttachClient.open(`${api.wsBase}/boxes/${box}/executions/${execution_id}/attach`);
  expect(await client.whenClosed()).toBe(1000);
  return client.stdoutText().trim();
}

test("a create's advanced.capabilities is what the box's commands hold, and an export keeps it as archive v4", async () => {
  const created = await api.app.request(
    "/v1/boxes",
    jsonRequest("POST", { cmd: ["sleep", "3600"], memory_mib: 256, advanced: { capabilities: { drop: ["ALL"], add: ["cap_net_admin", "KILL"] } } }),
  );
  expect(created.status).toBe(201);
  const { box_id: box } = (await created.json()) as { box_id: string };
  made.push(box);
  expect((await api.app.request(`/v1/boxes/${box}/start`, jsonRequest("POST"))).status).toBe(200);
  // NET_ADMIN is bit 12, KILL bit 5: nothing else.
  expect(await capEff(box)).toBe("CapEff:\t0000000000001020");

  const archive = await runtime.exportBox(box, join(temp.make("caps-export-"), "box.boxlite"));
  const manifest = JSON.parse(Bun.spawnSync(["tar", "--zstd", "-xOf", archive, "manifest.json"]).stdout.toString());
  expect(manifest.version).toBe(4);
  expect(manifest.box_options.advanced.capabilities).toEqual({ add: ["cap_net_admin", "KILL"], drop: ["ALL"] });
  const imported = await runtime.importBox(archive, { name: "caps-imported" });
  made.push(imported);
  await runtime.start(imported);
  expect(await capEff(imported)).toBe("CapEff:\t0000000000001020");
}, 180_000);

test("an unknown capability is a 400 invalid_argument naming it, and no box is made", async () => {
  const before = (await runtime.listBoxes({ all: true })).length;
  const answer = await api.app.request("/v1/boxes", jsonRequest("POST", { advanced: { capabilities: { add: ["NET_ADMIN", "WARP_DRIVE"] } } }));
  expect(answer.status).toBe(400);
  const { error } = (await answer.json()) as { error: { code: string; message: string } };
  expect(error.code).toBe("invalid_argument");
  expect(error.message).toContain('unknown Linux capability "WARP_DRIVE"');
  expect(error.message).toContain("advanced.capabilities.add");
  expect((await runtime.listBoxes({ all: true })).length).toBe(before);
});
