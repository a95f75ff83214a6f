/**
 * Box routes in-process against the test home. Creating a box records it and its disk
 * without booting it, so these tests boot nothing; start, stop and metrics of a running
 * box are covered over HTTP in serve.test.ts, which boots the one VM of these tests.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createOptions } from "../../src/api/routes/boxes.ts";
import { getBox, insertBox } from "../../src/db/boxes.ts";
import { boxLayout } from "../../src/runtime/box-layout.ts";
import { newBoxConfig, newBoxState } from "../../src/runtime/box-record.ts";
import { withDefaults } from "../../src/runtime/options.ts";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, executions, runtime } = makeApp();

afterAll(async () => {
  await executions.close();
});

interface WireBox {
  box_id: string;
  name: string | null;
  status: string;
  image: string;
  cpus: number;
  memory_mib: number;
  pid: number | null;
  labels: Record<string, string>;
  auto_delete: number;
  exit_code: number | null;
  network: Record<string, unknown>;
}

async function create(body: Record<string, unknown>): Promise<WireBox> {
  const answer = await call(app, "POST", "/v1/boxes", { body });
  if (answer.status !== 201) throw new Error(`create answered ${answer.status}: ${answer.text}`);
  return answer.json as WireBox;
}

test("POST /v1/boxes creates a configured box (not booted) and answers 201 with a Location", async () => {
  const answer = await call(app, "POST", "/v1/boxes", {
    body: { name: "api-made", cpus: 2, memory_mib: 256, cmd: ["sleep", "60"], env: { A: "1" }, working_dir: "/tmp" },
  });
  expect(answer.status).toBe(201);
  const box = answer.json as WireBox;
  expect(box).toMatchObject({
    name: "api-made",
    status: "configured",
    cpus: 2,
    memory_mib: 256,
    pid: null,
    image: "boxlite/default:latest",
    labels: {},
    exit_code: null,
    auto_pause: 0,
    auto_delete: 0,
    auto_resume: true,
  });
  expect(box.box_id).toMatch(/^[0-9a-z]{26}$/);
  expect(answer.headers.get("Location")).toBe(`/v1/boxes/${box.box_id}`);
});

test("a box created with auto_delete > 0 says so in its Box, created and read back (it is removed as soon as it stops)", async () => {
  const created = await call(app, "POST", "/v1/boxes", { body: { name: "api-auto-delete", auto_delete: 300 } });
  expect(created.status).toBe(201);
  expect((created.json as WireBox).auto_delete).toBe(1);
  const read = await call(app, "GET", "/v1/boxes/api-auto-delete");
  expect((read.json as WireBox).auto_delete).toBe(1);
  const listed = await call(app, "GET", "/v1/boxes");
  const boxes = (listed.json as { boxes: WireBox[] }).boxes;
  expect(boxes.find((box) => box.name === "api-auto-delete")?.auto_delete).toBe(1);
  expect(boxes.filter((box) => box.name !== "api-auto-delete").every((box) => box.auto_delete === 0)).toBe(true);
  expect((await call(app, "DELETE", "/v1/boxes/api-auto-delete")).status).toBe(204);
});

test("the create request maps onto the runtime's options", () => {
  const body = {
    name: "n",
    image: "alpine:3.20",
    cpus: 3,
    memory_mib: 1024,
    working_dir: "/w",
    env: { A: "1", B: "x=y" },
    entrypoint: ["/bin/sh", "-c"],
    cmd: ["echo hi"],
    user: "1000:1000",
    auto_delete: 5,
  };
  expect(createOptions(body)).toEqual({
    name: "n",
    image: "alpine:3.20",
    cpus: 3,
    memoryMib: 1024,
    workingDir: "/w",
    env: { A: "1", B: "x=y" },
    entrypoint: ["/bin/sh", "-c"],
    cmd: ["echo hi"],
    user: "1000:1000",
    autoRemove: true,
    // The reference server's default: a box removed on stop is not detached.
    detach: false,
  });
  // null is "left out", as serde's Option; a kept box is detached unless the client says otherwise.
  expect(createOptions({ name: null, image: null, cpus: null, env: null, auto_delete: 0 })).toEqual({ autoRemove: false, detach: true });
  expect(createOptions({ detach: false })).toEqual({ detach: false });
  // A terminal for the main command: its size comes from the client that attaches before the start.
  expect(createOptions({ tty: true })).toEqual({ tty: true, detach: true });
});

test("fields this build cannot honour are refused with 400 unsupported naming the field", async () => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ security: "maximum" }, "security"],
    [{ secrets: [{ name: "k", value: "v" }] }, "secrets"],
    [{ auto_pause: 900 }, "auto_stop"],
    [{ auto_stop: 900 }, "auto_stop"],
  ];
  for (const [body, field] of cases) {
    const answer = await call(app, "POST", "/v1/boxes", { body });
    expect(answer.status).toBe(400);
    expect(envelopeOf(answer)).toMatchObject({ type: "UnsupportedError", code: "unsupported" });
    expect(envelopeOf(answer).message.startsWith(`${field} is not supported`)).toBe(true);
  }
});

/** The disk's virtual size and backing file size, as qemu-img (the oracle, only in tests) reads them. */
async function diskSizes(id: string): Promise<{ virtual: number; base: number }> {
  const disk = boxLayout(runtime.config, id).disk;
  const info = JSON.parse(Bun.spawnSync(["qemu-img", "info", "--output=json", disk]).stdout.toString()) as {
    "virtual-size": number;
    "backing-filename": string;
  };
  return { virtual: info["virtual-size"], base: Bun.file(info["backing-filename"]).size };
}

test("disk_size_gb makes the box's disk that many GiB, never smaller than its image's base, and is recorded as the reference does", async () => {
  const sized = await create({ name: "api-disk-8", disk_size_gb: 8 });
  const eight = await diskSizes(sized.box_id);
  expect(eight.virtual).toBe(8 * 1024 ** 3);
  const { database } = await runtime.home();
  expect(getBox(database.db, sized.box_id)?.config.options.disk_size_gb).toBe(8);
  // The default image's base is over 1 GiB (it keeps 1 GiB free): 1 GB is the base's size.
  const small = await diskSizes((await create({ name: "api-disk-1", disk_size_gb: 1 })).box_id);
  expect(small.base).toBeGreaterThan(1024 ** 3);
  expect(small.virtual).toBe(small.base);
  const plain = await create({ name: "api-disk-default" });
  expect((await diskSizes(plain.box_id)).virtual).toBe(small.base);
  expect(getBox(database.db, plain.box_id)?.config.options.disk_size_gb).toBeNull();
  for (const name of ["api-disk-8", "api-disk-1", "api-disk-default"]) expect((await call(app, "DELETE", `/v1/boxes/${name}`)).status).toBe(204);
});

test("a disk_size_gb that is not a whole number from 1 to 2048 is a 400 naming the field, and nothing is made", async () => {
  for (const bad of [0, -5, 2049, 1.5, "8"]) {
    const answer = await call(app, "POST", "/v1/boxes", { body: { name: "api-disk-bad", disk_size_gb: bad } });
    expect(answer.status).toBe(400);
    expect(envelopeOf(answer).message).toStartWith('invalid field "disk_size_gb" in the request body');
  }
  expect((await call(app, "GET", "/v1/boxes/api-disk-bad")).status).toBe(404);
});

test("a malformed allow-list rule is a 400 naming the field and the rule, before anything is made", async () => {
  const before = (await call(app, "GET", "/v1/boxes")).json as { boxes: unknown[] };
  for (const rule of ["", "*.", "10.0.0.0/33", "exa mple.com"]) {
    const answer = await call(app, "POST", "/v1/boxes", { body: { network: { outbound: { mode: "enabled", allow_net: [rule] } } } });
    expect(answer.status).toBe(400);
    expect(envelopeOf(answer)).toMatchObject({ code: "invalid_argument", message: expect.stringContaining(`allow_net) ${JSON.stringify(rule)}`) });
  }
  const after = (await call(app, "GET", "/v1/boxes")).json as { boxes: unknown[] };
  expect(after.boxes.length).toBe(before.boxes.length);
});

test("what the published clients send on every create is accepted: both network shapes, auto_remove, detach false", async () => {
  for (const body of [
    { image: null, network: { mode: "enabled" }, auto_remove: false, detach: false },
    { network: { outbound: { mode: "enabled" }, inbound: { mode: "enabled" } }, detach: false },
    { network: { outbound: { mode: "disabled" }, inbound: { mode: "disabled" } }, auto_delete: 0, auto_resume: true },
  ]) {
    expect((await create(body)).status).toBe("configured");
  }
  // The box says what it has, in both shapes.
  const restricted = await create({ network: { outbound: { mode: "enabled", allow_net: ["example.com", "10.0.0.0/8"] }, inbound: { mode: "enabled" } } });
  expect(restricted.network).toEqual({
    outbound: { mode: "enabled", allow_net: ["example.com", "10.0.0.0/8"] },
    inbound: { mode: "enabled" },
    mode: "enabled",
    allow_net: ["example.com", "10.0.0.0/8"],
    published_ports: [],
  });
  const off = await create({ network: { mode: "disabled" } });
  expect(off.network).toMatchObject({ outbound: { mode: "disabled", allow_net: [] }, mode: "disabled" });
  const mixed = await call(app, "POST", "/v1/boxes", { body: { network: { mode: "enabled", outbound: { mode: "enabled" } } } });
  expect(mixed.status).toBe(400);
  expect(envelopeOf(mixed)).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("mixes the flat") });
});

test("values that ask for nothing are accepted, and auto_resume is ignored as the local reference does", async () => {
  const box = await create({
    tty: false,
    network: { mode: "disabled" },
    volumes: [],
    secrets: [],
    advanced: { capabilities: { add: [], drop: [] } },
    auto_pause: 0,
    auto_resume: true,
    detach: true,
    disk_size_gb: null,
    security: null,
  });
  expect(box.status).toBe("configured");
});

test("create refuses conflicting or bad settings: both image and rootfs_path, detach with auto_delete, a taken name, a bad env name", async () => {
  const both = await call(app, "POST", "/v1/boxes", { body: { image: "alpine", rootfs_path: "/tmp/x" } });
  expect(both.status).toBe(400);
  expect(envelopeOf(both).message).toBe("give either an image or a rootfs path (--rootfs, rootfs_path), not both");
  const detached = await call(app, "POST", "/v1/boxes", { body: { auto_delete: 1, detach: true } });
  expect(envelopeOf(detached).code).toBe("invalid_argument");
  await create({ name: "taken" });
  const taken = await call(app, "POST", "/v1/boxes", { body: { name: "taken" } });
  expect(taken.status).toBe(409);
  expect(envelopeOf(taken).message).toContain("taken");
  // As the reference maps a taken name: AlreadyExistsError, not InvalidStateError.
  expect(envelopeOf(taken)).toMatchObject({ type: "AlreadyExistsError", code: "already_exists" });
  const env = await call(app, "POST", "/v1/boxes", { body: { env: { "A=B": "c" } } });
  expect(env.status).toBe(400);
  expect(envelopeOf(env).message).toContain('invalid environment entry "A=B=c"');
  const relative = await call(app, "POST", "/v1/boxes", { body: { working_dir: "relative" } });
  expect(relative.status).toBe(400);
  const rootfs = await call(app, "POST", "/v1/boxes", { body: { rootfs_path: "/no/such/layout" } });
  expect(rootfs.status).toBeGreaterThanOrEqual(400);
  expect(rootfs.status).toBeLessThan(500);
  expect(envelopeOf(rootfs).message).toContain("/no/such/layout");
});

test("GET /v1/boxes lists every box newest first, filters by status and pages with opaque tokens", async () => {
  const older = await create({ name: "list-older" });
  const newer = await create({ name: "list-newer" });
  const all = (await call(app, "GET", "/v1/boxes")).json as { boxes: WireBox[]; next_page_token?: string };
  const ids = all.boxes.map((box) => box.box_id);
  expect(ids.indexOf(newer.box_id)).toBeLessThan(ids.indexOf(older.box_id));
  expect(all.next_page_token).toBeUndefined();
  const running = (await call(app, "GET", "/v1/boxes?status=running")).json as { boxes: WireBox[] };
  expect(running.boxes).toEqual([]);
  const paged: string[] = [];
  let token: string | undefined;
  do {
    const page = (await call(app, "GET", `/v1/boxes?pageSize=2${token ? `&pageToken=${token}` : ""}`)).json as { boxes: WireBox[]; next_page_token?: string };
    expect(page.boxes.length).toBeLessThanOrEqual(2);
    paged.push(...page.boxes.map((box) => box.box_id));
    token = page.next_page_token;
  } while (token !== undefined);
  expect(paged).toEqual(ids);
  const forged = await call(app, "GET", "/v1/boxes?pageToken=bm90LWEtdG9rZW4");
  expect(forged.status).toBe(400);
  expect(envelopeOf(forged).message).toContain("pageToken");
  expect((await call(app, "GET", "/v1/boxes?pageSize=0")).status).toBe(400);
  expect((await call(app, "GET", "/v1/boxes?status=sleeping")).status).toBe(400);
});

test("GET /v1/boxes without pageSize answers every box, past the contract's default page of 100: the published clients never page", async () => {
  const { database } = await runtime.home();
  database.db.transaction(() => {
    for (let i = 0; i < 120; i++) {
      const id = `bulk${String(i).padStart(3, "0")}`;
      insertBox(database.db, newBoxConfig(id, withDefaults({ image: "alpine:latest" }, true), `/nowhere/${id}`), newBoxState("stopped"));
    }
  })();
  const all = (await call(app, "GET", "/v1/boxes")).json as { boxes: WireBox[]; next_page_token?: string };
  expect(all.boxes.filter((box) => box.box_id.startsWith("bulk"))).toHaveLength(120);
  expect(all.next_page_token).toBeUndefined();
  database.db.run("DELETE FROM box_state WHERE id LIKE 'bulk%'");
  database.db.run("DELETE FROM box_config WHERE id LIKE 'bulk%'");
});

test("GET /v1/boxes/{id} finds a box by id, unique id prefix or name; HEAD says whether it exists", async () => {
  const box = await create({ name: "findable" });
  for (const ref of [box.box_id, box.box_id.slice(0, 20), "findable"]) {
    const answer = await call(app, "GET", `/v1/boxes/${ref}`);
    expect(answer.status).toBe(200);
    expect((answer.json as WireBox).box_id).toBe(box.box_id);
  }
  const head = await call(app, "HEAD", "/v1/boxes/findable");
  expect(head.status).toBe(204);
  expect(head.text).toBe("");
  const missing = await call(app, "HEAD", "/v1/boxes/not-a-box");
  expect(missing.status).toBe(404);
  expect(missing.text).toBe("");
  const absent = await call(app, "GET", "/v1/boxes/not-a-box");
  expect(absent.status).toBe(404);
  expect(envelopeOf(absent)).toMatchObject({ type: "NotFoundError", code: "not_found" });
});

test("DELETE /v1/boxes/{id} removes a box (204), after which it is 404; force takes true and false", async () => {
  const box = await create({ name: "doomed" });
  expect((await call(app, "DELETE", `/v1/boxes/${box.box_id}?force=false`)).status).toBe(204);
  expect((await call(app, "GET", `/v1/boxes/${box.box_id}`)).status).toBe(404);
  const again = await call(app, "DELETE", `/v1/boxes/${box.box_id}`);
  expect(again.status).toBe(404);
  expect(envelopeOf(again).code).toBe("not_found");
  const other = await create({ name: "doomed-too" });
  expect((await call(app, "DELETE", "/v1/boxes/doomed-too?force=true")).status).toBe(204);
  expect((await call(app, "HEAD", `/v1/boxes/${other.box_id}`)).status).toBe(404);
});

test("stopping a box that is not running is a no-op answered with the box; a bad stop body is refused", async () => {
  const box = await create({ name: "never-started" });
  const stopped = await call(app, "POST", "/v1/boxes/never-started/stop", { body: { timeout_seconds: 1 } });
  expect(stopped.status).toBe(200);
  expect(stopped.json).toMatchObject({ box_id: box.box_id, status: "configured" });
  expect((await call(app, "POST", "/v1/boxes/never-started/stop")).status).toBe(200);
  const bad = await call(app, "POST", "/v1/boxes/never-started/stop", { body: { timeout_seconds: -1 } });
  expect(bad.status).toBe(400);
  expect(envelopeOf(bad).message).toContain('"timeout_seconds"');
  expect((await call(app, "POST", "/v1/boxes/not-a-box/stop")).status).toBe(404);
  expect((await call(app, "POST", "/v1/boxes/not-a-box/start")).status).toBe(404);
});

test("GET /v1/boxes/{id}/metrics of a box that is not running has counters and no usage", async () => {
  await create({ name: "idle-metrics" });
  const answer = await call(app, "GET", "/v1/boxes/idle-metrics/metrics");
  expect(answer.status).toBe(200);
  expect(answer.json).toEqual({
    commands_executed_total: 0,
    exec_errors_total: 0,
    bytes_sent_total: 0,
    bytes_received_total: 0,
    cpu_percent: null,
    memory_bytes: null,
    network_bytes_sent: null,
    network_bytes_received: null,
    network_tcp_connections: null,
    network_tcp_errors: null,
  });
  expect((await call(app, "GET", "/v1/boxes/not-a-box/metrics")).status).toBe(404);
});

test("a tunnel needs a port in range and a box with a network: 400 and 409 before anything boots", async () => {
  await create({ name: "no-network", network: { mode: "disabled" } });
  for (const query of ["", "?port=0", "?port=65536", "?port=x"]) {
    const answer = await call(app, "POST", `/v1/boxes/no-network/network/tunnel${query}`);
    expect(answer.status).toBe(400);
  }
  const offline = await call(app, "POST", "/v1/boxes/no-network/network/tunnel?port=80");
  expect(offline.status).toBe(409);
  expect(envelopeOf(offline).message).toContain("has no network");
  expect((await call(app, "GET", "/v1/boxes/no-network")).json).toMatchObject({ status: "configured" });
  expect((await call(app, "POST", "/v1/boxes/not-a-box/network/tunnel?port=80")).status).toBe(404);
});

test("host-path and managed volumes are recorded and shown, in the listing too; a bad box path is a 400; an unknown managed volume a 404", async () => {
  const dir = mkdtempSync(join(tmpdir(), "boxlite-api-volume-"));
  try {
    const box = await create({ volumes: [{ host_path: dir, guest_path: "/data", read_only: true }] });
    const volumes = [{ host_path: dir, guest_path: "/data", read_only: true }];
    expect((box as WireBox & { volumes?: unknown }).volumes).toEqual(volumes);
    expect(((await call(app, "GET", `/v1/boxes/${box.box_id}`)).json as { volumes?: unknown }).volumes).toEqual(volumes);
    expect((await runtime.getBox(box.box_id)).volumes).toEqual(volumes);
    const listed = ((await call(app, "GET", "/v1/boxes")).json as { boxes: Array<{ box_id: string; volumes?: unknown }> }).boxes;
    expect(listed.find((entry) => entry.box_id === box.box_id)?.volumes).toEqual(volumes);

    const volume = (await call(app, "POST", "/v1/volumes", { body: { name: "boxes-api-data" } })).json as { id: string };
    const withNamed = await create({ volumes: [{ managed_volume: "boxes-api-data", guest_path: "/named", read_only: false }] });
    const dataDir = join(runtime.config.home, "volumes", "named", volume.id, "data");
    expect((withNamed as WireBox & { volumes?: unknown }).volumes).toEqual([
      { host_path: dataDir, guest_path: "/named", read_only: false, managed_volume: volume.id },
    ]);
    expect((await runtime.getBox(withNamed.box_id)).volumes).toEqual([{ host_path: dataDir, guest_path: "/named", read_only: false, volume: volume.id }]);
    const inUse = await call(app, "DELETE", `/v1/volumes/${volume.id}`);
    expect(inUse.status).toBe(409);
    await call(app, "DELETE", `/v1/boxes/${withNamed.box_id}`);
    expect((await call(app, "DELETE", `/v1/volumes/${volume.id}`)).status).toBe(204);

    const before = ((await call(app, "GET", "/v1/boxes")).json as { boxes: unknown[] }).boxes.length;
    for (const guest_path of ["data", "/"]) {
      const answer = await call(app, "POST", "/v1/boxes", { body: { volumes: [{ host_path: dir, guest_path }] } });
      expect(answer.status).toBe(400);
      expect(envelopeOf(answer)).toMatchObject({ code: "invalid_argument" });
    }
    const missing = await call(app, "POST", "/v1/boxes", { body: { volumes: [{ host_path: join(dir, "nope"), guest_path: "/data" }] } });
    expect(envelopeOf(missing)).toMatchObject({ code: "invalid_argument", message: expect.stringContaining("does not exist") });
    const managed = await call(app, "POST", "/v1/boxes", { body: { volumes: [{ managed_volume: "vol_1", guest_path: "/data", read_only: false }] } });
    expect(managed.status).toBe(404);
    expect(envelopeOf(managed)).toMatchObject({ code: "not_found", message: expect.stringContaining('no such volume: "vol_1"') });
    expect(((await call(app, "GET", "/v1/boxes")).json as { boxes: unknown[] }).boxes.length).toBe(before);
    await call(app, "DELETE", `/v1/boxes/${box.box_id}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
