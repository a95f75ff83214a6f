/**
 * POST /v1/boxes/{id}/pause and …/unpause in-process, on boxes without a VM (a created box,
 * a stopped one): the conflicts and errors, which the runtime's state machine decides. A
 * real pause is in test/e2e/pause.test.ts.
 */
import { afterAll, expect, test } from "bun:test";
import { setBoxState } from "../../src/runtime/box-facts.ts";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const { app, executions, runtime } = makeApp();

afterAll(async () => {
  await executions.close();
});

async function createBox(name: string): Promise<string> {
  const answer = await call(app, "POST", "/v1/boxes", { body: { name } });
  if (answer.status !== 201) throw new Error(`create answered ${answer.status}: ${answer.text}`);
  return (answer.json as { box_id: string }).box_id;
}

test("pause of a box that is not running, and unpause of one that is not paused, are 409 invalid_state saying why", async () => {
  const id = await createBox("pause-refused");
  const expectRefused = async (action: string, message: string) => {
    const answer = await call(app, "POST", `/v1/boxes/pause-refused/${action}`);
    expect({ action, status: answer.status, error: envelopeOf(answer) }).toEqual({
      action,
      status: 409,
      error: { type: "InvalidStateError", code: "invalid_state", message, request_id: expect.any(String) },
    });
  };
  for (const status of ["configured", "stopped"] as const) {
    if (status === "stopped") setBoxState((await runtime.home()).database.db, id, { status });
    await expectRefused("pause", `box ${id} is ${status}, not running; start it with 'boxlite start pause-refused'`);
    await expectRefused("unpause", `box ${id} is ${status}, not paused; only a box paused with 'boxlite pause' can be unpaused`);
  }
});

test("an unknown box is 404 not_found and a malformed id 400, for both routes", async () => {
  for (const action of ["pause", "unpause"]) {
    const unknown = await call(app, "POST", `/v1/boxes/no-such-box/${action}`);
    expect({ action, status: unknown.status, code: envelopeOf(unknown).code }).toEqual({ action, status: 404, code: "not_found" });
    const malformed = await call(app, "POST", `/v1/boxes/.hidden/${action}`);
    expect({ action, status: malformed.status, code: envelopeOf(malformed).code }).toEqual({ action, status: 400, code: "invalid_argument" });
  }
});

test("the routes are in the OpenAPI document, marked as boxlite's own", async () => {
  const document = (await call(app, "GET", "/v1/openapi.json")).json as { paths: Record<string, Record<string, { summary: string; responses: object }>> };
  for (const action of ["pause", "unpause"]) {
    const operation = document.paths[`/boxes/{box_id}/${action}`]?.post;
    expect(operation?.summary).toContain("a boxlite extension");
    expect(Object.keys(operation?.responses ?? {})).toEqual(expect.arrayContaining(["200", "404", "409"]));
  }
});
