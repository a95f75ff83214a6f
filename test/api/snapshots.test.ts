/**
 * Snapshot routes in-process against the test home. A created box has its disk but no
 * VM, so create, list, get, restore and remove run on real qcow2 files and boot nothing.
 */
import { afterAll, expect, test } from "bun:test";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, executions } = makeApp();

afterAll(async () => {
  await executions.close();
});

interface WireSnapshot {
  id: string;
  box_id: string;
  name: string;
  created_at: number;
  guest_disk_bytes: number;
  container_disk_bytes: number;
  size_bytes: number;
}

async function createBox(name: string): Promise<string> {
  const answer = await call(app, "POST", "/v1/boxes", { body: { name } });
  if (answer.status !== 201) throw new Error(`create answered ${answer.status}: ${answer.text}`);
  return (answer.json as { box_id: string }).box_id;
}

async function snapshot(box: string, name: string): Promise<WireSnapshot> {
  const answer = await call(app, "POST", `/v1/boxes/${box}/snapshots`, { body: { name } });
  if (answer.status !== 201) throw new Error(`snapshot answered ${answer.status}: ${answer.text}`);
  return answer.json as WireSnapshot;
}

test("POST …/snapshots answers 201 with the contract's Snapshot; GET lists it newest first and gets it by name", async () => {
  const boxId = await createBox("snap-api");
  const before = Math.floor(Date.now() / 1000);
  const first = await snapshot("snap-api", "first");
  expect(first).toEqual({
    id: expect.any(String),
    box_id: boxId,
    name: "first",
    created_at: expect.any(Number),
    guest_disk_bytes: 0,
    container_disk_bytes: expect.any(Number),
    size_bytes: expect.any(Number),
  });
  expect(Object.keys(first)).not.toContain("base_path");
  expect(first.created_at).toBeGreaterThanOrEqual(before);
  expect(first.created_at).toBeLessThanOrEqual(Math.floor(Date.now() / 1000));
  expect(first.container_disk_bytes).toBeGreaterThan(1024 * 1024);
  expect(first.size_bytes).toBeGreaterThan(0);
  const second = await snapshot(boxId, "second.v2");
  const list = await call(app, "GET", "/v1/boxes/snap-api/snapshots");
  expect(list.status).toBe(200);
  expect((list.json as { snapshots: WireSnapshot[] }).snapshots.map((item) => item.name)).toEqual(["second.v2", "first"]);
  const got = await call(app, "GET", "/v1/boxes/snap-api/snapshots/first");
  expect(got.status).toBe(200);
  expect(got.json).toEqual(first);
  expect((await call(app, "GET", `/v1/boxes/${boxId}/snapshots/second.v2`)).json).toEqual(second);
});

test("a taken snapshot name is 409 already_exists", async () => {
  await createBox("snap-taken");
  await snapshot("snap-taken", "once");
  const again = await call(app, "POST", "/v1/boxes/snap-taken/snapshots", { body: { name: "once" } });
  expect(again.status).toBe(409);
  expect(envelopeOf(again).code).toBe("already_exists");
});

test("DELETE of a snapshot another disk needs is 409; after a restore to an older one, the newer one goes (204), then 404", async () => {
  await createBox("snap-chain");
  await snapshot("snap-chain", "older");
  await snapshot("snap-chain", "newer");
  // "newer" was forked from the disk that sits on "older": the chain goes through it.
  const needed = await call(app, "DELETE", "/v1/boxes/snap-chain/snapshots/older");
  expect(needed.status).toBe(409);
  expect(envelopeOf(needed)).toMatchObject({ type: "InvalidStateError", code: "invalid_state" });
  expect(envelopeOf(needed).message).toContain("snapshot newer of box snap-chain");

  const restored = await call(app, "POST", "/v1/boxes/snap-chain/snapshots/older/restore");
  expect(restored.status).toBe(204);
  expect(restored.text).toBe("");
  // The box's disk is a new overlay on "older" now: nothing needs "newer".
  expect((await call(app, "DELETE", "/v1/boxes/snap-chain/snapshots/newer")).status).toBe(204);
  expect((await call(app, "GET", "/v1/boxes/snap-chain/snapshots/newer")).status).toBe(404);
  expect((await call(app, "DELETE", "/v1/boxes/snap-chain/snapshots/newer")).status).toBe(404);
  const list = (await call(app, "GET", "/v1/boxes/snap-chain/snapshots")).json as { snapshots: WireSnapshot[] };
  expect(list.snapshots.map((item) => item.name)).toEqual(["older"]);
  const stillNeeded = await call(app, "DELETE", "/v1/boxes/snap-chain/snapshots/older");
  expect(stillNeeded.status).toBe(409);
  expect(envelopeOf(stillNeeded).message).toContain("box snap-chain's disk");
});

test("unknown boxes and snapshots are 404 not_found", async () => {
  await createBox("snap-404");
  const cases: Array<[string, string, unknown]> = [
    ["GET", "/v1/boxes/no-such-box/snapshots", undefined],
    ["POST", "/v1/boxes/no-such-box/snapshots", { name: "x" }],
    ["GET", "/v1/boxes/no-such-box/snapshots/x", undefined],
    ["GET", "/v1/boxes/snap-404/snapshots/missing", undefined],
    ["DELETE", "/v1/boxes/snap-404/snapshots/missing", undefined],
    ["POST", "/v1/boxes/snap-404/snapshots/missing/restore", undefined],
  ];
  for (const [method, path, body] of cases) {
    const answer = await call(app, method, path, { body });
    expect({ method, path, status: answer.status }).toEqual({ method, path, status: 404 });
    expect(envelopeOf(answer).code).toBe("not_found");
  }
});

test("bad snapshot names are 400 invalid_argument, in the body and in the path (%2F decodes to a slash)", async () => {
  await createBox("snap-names");
  for (const name of ["", ".", "..", ".hidden", "a/b", "a\\b", "x".repeat(256)]) {
    const answer = await call(app, "POST", "/v1/boxes/snap-names/snapshots", { body: { name } });
    expect({ name, status: answer.status }).toEqual({ name, status: 400 });
    expect(envelopeOf(answer).code).toBe("invalid_argument");
  }
  for (const body of [{}, { name: 7 }, { name: "ok", extra: 1 }, "not json"]) {
    const answer = await call(app, "POST", "/v1/boxes/snap-names/snapshots", { body });
    expect({ body, status: answer.status }).toEqual({ body, status: 400 });
  }
  for (const [method, suffix] of [
    ["GET", ""],
    ["DELETE", ""],
    ["POST", "/restore"],
  ] as const) {
    for (const segment of ["a%2Fb", ".hidden", "%2E%2Ehidden"]) {
      const answer = await call(app, method, `/v1/boxes/snap-names/snapshots/${segment}${suffix}`);
      expect({ method, segment, status: answer.status }).toEqual({ method, segment, status: 400 });
      expect(envelopeOf(answer).message).toContain("snapshot name");
    }
  }
  // `..` is resolved away by URL parsing before any route sees it: never a snapshot.
  expect((await call(app, "GET", "/v1/boxes/snap-names/snapshots/..")).status).toBe(404);
  const badBox = await call(app, "GET", "/v1/boxes/..%2Fx/snapshots");
  expect(envelopeOf(badBox).code).toBe("invalid_argument");
  // Nothing was made by the refused requests.
  expect((await call(app, "GET", "/v1/boxes/snap-names/snapshots")).json).toEqual({ snapshots: [] });
});
