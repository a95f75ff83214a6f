/**
 * Clone, export and import routes in-process. What the routes check themselves (bodies,
 * queries, the upload bound, the staging directory under the home's tmp/) is tested
 * always; the round trip through the runtime runs once the runtime has clone, export and
 * import (until then it refuses them as `unsupported`, and those tests are skipped).
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RemoteBoxlite } from "../../src/api/client.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { hasPortability } from "../helpers/portability.ts";
import { startApi } from "../helpers/api.ts";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, executions, runtime } = makeApp({ importLimit: 64 * 1024 });

afterAll(async () => {
  await executions.close();
});

const portable = await hasPortability(runtime);

/** What a request left in the home's staging directory. */
function staged(): string[] {
  const dir = join(runtime.config.home, "tmp");
  return existsSync(dir) ? readdirSync(dir).filter((name) => name.startsWith("import-") || name.startsWith("export-")) : [];
}

async function createBox(name: string): Promise<string> {
  const answer = await call(app, "POST", "/v1/boxes", { body: { name } });
  if (answer.status !== 201) throw new Error(`create answered ${answer.status}: ${answer.text}`);
  return (answer.json as { box_id: string }).box_id;
}

test("clone and export bodies are checked: unknown fields and bad names are 400 before anything is copied", async () => {
  await createBox("port-bodies");
  for (const body of [{ name: "" }, { name: 7 }, { count: 2 }, "not json"]) {
    const answer = await call(app, "POST", "/v1/boxes/port-bodies/clone", { body });
    expect({ body, status: answer.status }).toEqual({ body, status: 400 });
    expect(envelopeOf(answer).code).toBe("invalid_argument");
  }
  const exported = await call(app, "POST", "/v1/boxes/port-bodies/export", { body: { compress: true } });
  expect(exported.status).toBe(400);
  expect(envelopeOf(exported).message).toContain('unknown field "compress"');
  expect(envelopeOf(await call(app, "POST", "/v1/boxes/..%2Fx/export")).code).toBe("invalid_argument");
  expect(staged()).toEqual([]);
});

test("import refuses an empty body (400), an archive past the bound (413, declared or not) and unknown query fields, and leaves nothing staged", async () => {
  const empty = await call(app, "POST", "/v1/boxes/import?name=x", { body: new Uint8Array(0), headers: { "Content-Type": "application/octet-stream" } });
  expect(empty.status).toBe(400);
  expect(envelopeOf(empty).message).toContain("empty");
  const big = new Uint8Array(64 * 1024 + 1);
  const declared = await call(app, "POST", "/v1/boxes/import", { body: big, headers: { "Content-Type": "application/octet-stream" } });
  expect(declared.status).toBe(413);
  // A body that does not say its length is cut off as it runs over.
  const chunks = [new Uint8Array(40 * 1024), new Uint8Array(40 * 1024)];
  const streamed = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks.shift();
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
  const undeclared = await call(app, "POST", "/v1/boxes/import", { body: streamed, headers: { "Content-Type": "application/octet-stream" } });
  expect(undeclared.status).toBe(413);
  expect(envelopeOf(undeclared).code).toBe("invalid_argument");
  const unknown = await call(app, "POST", "/v1/boxes/import?label=x", { body: new Uint8Array(10) });
  expect(unknown.status).toBe(400);
  expect(staged()).toEqual([]);
});

test("an archive is bounded by the import bound, not by the JSON bodies' one", async () => {
  const { app: small, executions: smallExecutions } = makeApp({ bodyLimit: 1024 });
  try {
    const answer = await call(small, "POST", "/v1/boxes/import", { body: new Uint8Array(8 * 1024), headers: { "Content-Type": "application/octet-stream" } });
    // Garbage reaches the runtime, which refuses it its own way: anything but the body bound.
    expect(answer.status).not.toBe(413);
    expect(envelopeOf(answer).message).not.toContain("larger than");
    const json = await call(small, "POST", "/v1/boxes/x/clone", { body: { name: "x".repeat(2000) } });
    expect(json.status).toBe(413);
  } finally {
    await smallExecutions.close();
  }
  expect(staged()).toEqual([]);
});

test.skipIf(!portable)("POST …/clone answers 201 with the new box, stopped and named; an unknown box is 404", async () => {
  const sourceId = await createBox("port-source");
  const answer = await call(app, "POST", "/v1/boxes/port-source/clone", { body: { name: "port-clone" } });
  expect(answer.status).toBe(201);
  const clone = answer.json as { box_id: string; name: string; status: string };
  expect(clone.name).toBe("port-clone");
  expect(clone.box_id).not.toBe(sourceId);
  expect(["configured", "stopped"]).toContain(clone.status);
  expect(answer.headers.get("Location")).toBe(`/v1/boxes/${clone.box_id}`);
  const unnamed = await call(app, "POST", "/v1/boxes/port-source/clone");
  expect(unnamed.status).toBe(201);
  expect((await call(app, "POST", "/v1/boxes/no-such-box/clone", { body: {} })).status).toBe(404);
  const taken = await call(app, "POST", "/v1/boxes/port-source/clone", { body: { name: "port-clone" } });
  expect(taken.status).toBe(409);
});

test.skipIf(!portable)("export answers the archive's bytes; importing them makes a named box (201); nothing stays staged", async () => {
  await createBox("port-exported");
  const exported = await app.request("/v1/boxes/port-exported/export", { method: "POST", body: "{}", headers: { "Content-Type": "application/json" } });
  expect(exported.status).toBe(200);
  expect(exported.headers.get("Content-Type")).toBe("application/octet-stream");
  expect(exported.headers.get("Content-Disposition")).toContain(".boxlite");
  const bytes = new Uint8Array(await exported.arrayBuffer());
  expect(bytes.length).toBeGreaterThan(0);
  expect(Number(exported.headers.get("Content-Length"))).toBe(bytes.length);
  expect(staged()).toEqual([]);

  const { app: bigApp, executions: bigExecutions } = makeApp();
  try {
    const imported = await call(bigApp, "POST", "/v1/boxes/import?name=port-imported", {
      body: bytes,
      headers: { "Content-Type": "application/octet-stream" },
    });
    expect(imported.status).toBe(201);
    expect(imported.json).toMatchObject({ name: "port-imported" });
    expect((await call(bigApp, "GET", "/v1/boxes/port-imported")).status).toBe(200);
  } finally {
    await bigExecutions.close();
  }
  expect(staged()).toEqual([]);
  expect((await call(app, "POST", "/v1/boxes/no-such-box/export")).status).toBe(404);
});

/**
 * The transfer itself, whatever the runtime's archive is: a runtime whose export writes
 * known bytes and whose import records what it was given, behind the real app and the
 * real client.
 */
class RecordingRuntime extends Boxlite {
  readonly imported: Array<{ bytes: Uint8Array; options: { name?: string; untrusted?: boolean } }> = [];
  readonly payload = crypto.getRandomValues(new Uint8Array(50_000));

  override async exportBox(idOrName: string, dest: string): Promise<string> {
    const box = await this.getBox(idOrName);
    const path = join(dest, `${box.name ?? "box"}.boxlite`);
    writeFileSync(path, this.payload);
    return path;
  }

  override async importBox(archivePath: string, options: { name?: string; untrusted?: boolean } = {}): Promise<string> {
    this.imported.push({ bytes: new Uint8Array(readFileSync(archivePath)), options });
    return this.create(options.name === undefined ? {} : { name: options.name });
  }
}

test("RemoteBoxlite downloads an export into a file or a directory (renamed into place) and uploads an import, staged nowhere after", async () => {
  const recording = new RecordingRuntime(runtime.config);
  const server = startApi(recording);
  const dir = mkdtempSync(join(tmpdir(), "boxlite-remote-export-"));
  try {
    const remote = new RemoteBoxlite(server.httpBase);
    await recording.create({ name: "port-remote" });
    const intoDir = await remote.exportBox("port-remote", dir);
    expect(intoDir).toBe(join(dir, "port-remote.boxlite"));
    expect(Buffer.compare(readFileSync(intoDir), recording.payload)).toBe(0);
    const asFile = await remote.exportBox("port-remote", join(dir, "named.boxlite"));
    expect(asFile).toBe(join(dir, "named.boxlite"));
    expect(readdirSync(dir).sort()).toEqual(["named.boxlite", "port-remote.boxlite"]);
    await expect(remote.exportBox("no-such-box", join(dir, "x.boxlite"))).rejects.toMatchObject({ code: "not_found" });
    expect(readdirSync(dir).sort()).toEqual(["named.boxlite", "port-remote.boxlite"]);

    const id = await remote.importBox(asFile, { name: "port-remote-imported" });
    expect((await recording.getBox("port-remote-imported")).box_id).toBe(id);
    expect(recording.imported).toHaveLength(1);
    expect(recording.imported[0]?.options).toEqual({ name: "port-remote-imported", untrusted: true });
    expect(Buffer.compare(Buffer.from(recording.imported[0]?.bytes ?? []), recording.payload)).toBe(0);
    await expect(remote.importBox(join(dir, "missing.boxlite"))).rejects.toMatchObject({ code: "not_found" });
    expect(staged()).toEqual([]);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
