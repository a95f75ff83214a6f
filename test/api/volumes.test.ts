/** /v1/volumes in-process: create, list, get by id or name, remove (409 in use, force), and bad input. */
import { expect, test } from "bun:test";
import { insertBoxUsingVolume } from "../helpers/volumes.ts";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, runtime } = makeApp();

interface WireVolume {
  id: string;
  name: string;
  state: string;
  created_at: string;
  updated_at: string;
}

async function create(body?: unknown): Promise<WireVolume> {
  const answer = await call(app, "POST", "/v1/volumes", { body });
  expect(answer.status).toBe(201);
  return answer.json as WireVolume;
}

test("POST /v1/volumes answers 201 with a ready Volume; without a body the name is the id", async () => {
  const named = await create({ name: "api-data" });
  expect(named).toEqual({
    id: expect.stringMatching(/^[0-9a-z]{26}$/),
    name: "api-data",
    state: "ready",
    created_at: named.created_at,
    updated_at: named.created_at,
  });
  const unnamed = await create();
  expect(unnamed.name).toBe(unnamed.id);
  expect((await create({})).state).toBe("ready");
});

test("GET /v1/volumes lists summaries newest first; GET /v1/volumes/{id} finds by id or name", async () => {
  const older = await create({ name: "api-older" });
  const newer = await create({ name: "api-newer" });
  const { volumes } = (await call(app, "GET", "/v1/volumes")).json as { volumes: Array<Omit<WireVolume, "updated_at">> };
  const names = volumes.map((volume) => volume.name);
  expect(names.indexOf("api-newer")).toBeLessThan(names.indexOf("api-older"));
  expect(volumes.find((volume) => volume.id === older.id)).toEqual({ id: older.id, name: "api-older", state: "ready", created_at: older.created_at });
  expect((await call(app, "GET", `/v1/volumes/${newer.id}`)).json).toEqual(newer);
  expect((await call(app, "GET", "/v1/volumes/api-newer")).json).toEqual(newer);
  const missing = await call(app, "GET", "/v1/volumes/no-such-volume");
  expect(missing.status).toBe(404);
  expect(envelopeOf(missing).code).toBe("not_found");
});

test("a taken name is 409 already_exists; a bad name or an unknown field is 400", async () => {
  await create({ name: "api-taken" });
  const taken = await call(app, "POST", "/v1/volumes", { body: { name: "api-taken" } });
  expect(taken.status).toBe(409);
  expect(envelopeOf(taken).code).toBe("already_exists");
  for (const body of [{ name: "x" }, { name: "-x" }, { name: "a/b" }, { name: 7 }, { size: 1 }, "not json"]) {
    const answer = await call(app, "POST", "/v1/volumes", { body });
    expect(answer.status).toBe(400);
    expect(envelopeOf(answer).code).toBe("invalid_argument");
  }
  expect((await call(app, "GET", "/v1/volumes/..")).status).toBe(404);
  expect(envelopeOf(await call(app, "GET", "/v1/volumes/.hidden")).code).toBe("invalid_argument");
});

test("DELETE /v1/volumes/{id} answers 204; 409 while a box uses the volume unless force; force takes a missing one as removed", async () => {
  const free = await create({ name: "api-free" });
  expect((await call(app, "DELETE", "/v1/volumes/api-free")).status).toBe(204);
  expect((await call(app, "GET", `/v1/volumes/${free.id}`)).status).toBe(404);
  expect((await call(app, "DELETE", "/v1/volumes/api-free")).status).toBe(404);
  expect((await call(app, "DELETE", "/v1/volumes/api-free?force=true")).status).toBe(204);

  const used = await create({ name: "api-used" });
  insertBoxUsingVolume(await runtime.home(), "api-volume-user", used.id);
  const refused = await call(app, "DELETE", "/v1/volumes/api-used?force=false");
  expect(refused.status).toBe(409);
  expect(envelopeOf(refused).message).toContain("api-volume-user");
  expect((await call(app, "GET", "/v1/volumes/api-used")).status).toBe(200);
  expect((await call(app, "DELETE", "/v1/volumes/api-used?force=true")).status).toBe(204);
  expect((await call(app, "GET", "/v1/volumes/api-used")).status).toBe(404);
  expect((await call(app, "DELETE", "/v1/volumes/x?force=maybe")).status).toBe(400);
});

test("GET /v1/me lists the volume scope: the server serves volumes", async () => {
  expect(((await call(app, "GET", "/v1/me")).json as { scopes: string[] }).scopes).toContain("volume:*");
});
