/**
 * What every request goes through: the API key, X-Request-Id, the body bound, input
 * validation and the error envelope (including a bug's 500, which says nothing inside).
 */
import { afterAll, expect, spyOn, test } from "bun:test";
import { call, envelopeOf, makeApp } from "./core-helpers.ts";

const KEY = "blk_test_0123456789abcdef";
const open = makeApp();
const locked = makeApp({ apiKey: KEY });

afterAll(async () => {
  await open.executions.close();
  await locked.executions.close();
});

test("without an API key every route is open, with any or no bearer", async () => {
  expect((await call(open.app, "GET", "/v1/boxes")).status).toBe(200);
  expect((await call(open.app, "GET", "/v1/boxes", { headers: { Authorization: "Bearer whatever" } })).status).toBe(200);
});

test("with an API key a request without it or with a wrong one gets 401 AuthError/unauthenticated", async () => {
  for (const authorization of [undefined, "Bearer wrong", `Bearer ${KEY}x`, `Basic ${KEY}`, KEY, "Bearer ", `Bearer ${KEY.slice(0, -1)}`]) {
    const answer = await call(locked.app, "GET", "/v1/boxes", { headers: authorization === undefined ? {} : { Authorization: authorization } });
    expect(answer.status).toBe(401);
    expect(envelopeOf(answer)).toMatchObject({ type: "AuthError", code: "unauthenticated", message: "invalid or missing API key" });
  }
});

test("with an API key the right bearer passes, whatever the scheme's case", async () => {
  for (const scheme of ["Bearer", "bearer", "BEARER"]) {
    expect((await call(locked.app, "GET", "/v1/boxes", { headers: { Authorization: `${scheme} ${KEY}` } })).status).toBe(200);
  }
});

test("GET /v1/config is public; everything else, unknown routes included, needs the key", async () => {
  expect((await call(locked.app, "GET", "/v1/config")).status).toBe(200);
  expect((await call(locked.app, "GET", "/v1/me")).status).toBe(401);
  expect((await call(locked.app, "POST", "/v1/config")).status).toBe(401);
  expect((await call(locked.app, "GET", "/v1/config/")).status).toBe(401);
  expect((await call(locked.app, "GET", "/v1/no-such-route")).status).toBe(401);
});

test("a request without the key is refused before its body is read (401, not 413)", async () => {
  const answer = await call(locked.app, "POST", "/v1/boxes", { body: "x".repeat(2 * 1024 * 1024) });
  expect(answer.status).toBe(401);
});

test("X-Request-Id is minted as a UUID when absent and echoed in the header and the error envelope", async () => {
  const ok = await call(open.app, "GET", "/v1/boxes");
  expect(ok.headers.get("X-Request-Id")).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const failed = await call(open.app, "GET", "/v1/boxes/no-such-box");
  expect(failed.status).toBe(404);
  expect(envelopeOf(failed).request_id).toBe(failed.headers.get("X-Request-Id") as string);
});

test("a client's X-Request-Id is kept; one that could split a log line is replaced", async () => {
  const given = await call(open.app, "GET", "/v1/boxes/nope", { headers: { "X-Request-Id": "req_01HZK4TNRPQSXYZ8WM6NCVT9R5" } });
  expect(given.headers.get("X-Request-Id")).toBe("req_01HZK4TNRPQSXYZ8WM6NCVT9R5");
  expect(envelopeOf(given).request_id).toBe("req_01HZK4TNRPQSXYZ8WM6NCVT9R5");
  const spaced = await call(open.app, "GET", "/v1/boxes", { headers: { "X-Request-Id": "a b" } });
  expect(spaced.headers.get("X-Request-Id")).not.toBe("a b");
  expect(spaced.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
  const long = await call(open.app, "GET", "/v1/boxes", { headers: { "X-Request-Id": "r".repeat(201) } });
  expect(long.headers.get("X-Request-Id")).toMatch(/^[0-9a-f-]{36}$/);
});

test("a body over 1 MiB is refused with 413 and the envelope, with or without a Content-Length", async () => {
  const declared = await call(open.app, "POST", "/v1/boxes", { body: JSON.stringify({ name: "x".repeat(1024 * 1024) }) });
  expect(declared.status).toBe(413);
  expect(envelopeOf(declared)).toMatchObject({ type: "InvalidArgumentError", code: "invalid_argument" });
  // A stream has no Content-Length: the bound is counted as it is read.
  const chunk = new TextEncoder().encode("x".repeat(64 * 1024));
  let sent = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (sent++ >= 40) return controller.close();
      controller.enqueue(chunk);
    },
  });
  const streamed = await call(open.app, "POST", "/v1/boxes", { body: stream });
  expect(streamed.status).toBe(413);
  expect(envelopeOf(streamed).code).toBe("invalid_argument");
});

test("malformed JSON, a non-object, a missing body: 400 InvalidArgumentError saying so", async () => {
  const malformed = await call(open.app, "POST", "/v1/boxes", { body: '{"name": ' });
  expect(malformed.status).toBe(400);
  expect(envelopeOf(malformed)).toMatchObject({ type: "InvalidArgumentError", code: "invalid_argument" });
  expect(envelopeOf(malformed).message).toContain("not valid JSON");
  const array = await call(open.app, "POST", "/v1/boxes", { body: "[1,2]" });
  expect(envelopeOf(array).message).toBe("the request body must be a JSON object");
  const none = await call(open.app, "POST", "/v1/boxes");
  expect(envelopeOf(none).message).toBe("this request needs a JSON body");
  expect((await call(open.app, "POST", "/v1/images/pull", { body: "null" })).status).toBe(400);
});

test("a wrong type or an out-of-range value is refused naming the field", async () => {
  const cases: Array<[unknown, string]> = [
    [{ cpus: "2" }, '"cpus"'],
    [{ cpus: 1.5 }, '"cpus"'],
    [{ cpus: 0 }, '"cpus"'],
    [{ memory_mib: 64 }, '"memory_mib"'],
    [{ env: { A: 1 } }, '"env.A"'],
    [{ cmd: "echo hi" }, '"cmd"'],
    [{ network: { mode: "bridge" } }, '"network.mode"'],
    [{ name: "-starts-with-dash" }, '"name"'],
  ];
  for (const [body, field] of cases) {
    const answer = await call(open.app, "POST", "/v1/boxes", { body });
    expect(answer.status).toBe(400);
    expect(envelopeOf(answer).code).toBe("invalid_argument");
    expect(envelopeOf(answer).message).toContain(field);
  }
  const enumerated = await call(open.app, "POST", "/v1/boxes", { body: { network: { mode: "bridge" } } });
  expect(envelopeOf(enumerated).message).toContain('expected one of "enabled", "disabled"');
});

test("unknown fields are refused by name, at any depth, and unknown query parameters too", async () => {
  const top = await call(open.app, "POST", "/v1/boxes", { body: { image: "alpine", ports: [80] } });
  expect(top.status).toBe(400);
  expect(envelopeOf(top).message).toBe('unknown field "ports" in the request body');
  const nested = await call(open.app, "POST", "/v1/boxes", { body: { advanced: { capabilities: { add: [], keep: [] } } } });
  expect(envelopeOf(nested).message).toBe('unknown field "advanced.capabilities.keep" in the request body');
  const query = await call(open.app, "GET", "/v1/boxes?all=1");
  expect(query.status).toBe(400);
  expect(envelopeOf(query).message).toBe('unknown field "all" in the request query');
  const wrong = await call(open.app, "DELETE", "/v1/boxes/some-box?force=maybe");
  expect(wrong.status).toBe(400);
  expect(envelopeOf(wrong).message).toContain('"force"');
});

test("ids that are not box ids or names get 400; ids that look like paths never reach the home", async () => {
  for (const id of ["..", ".hidden", "a%2Fb", "..%2F..%2Fetc%2Fpasswd", "%2E%2E", "a%00b", "x".repeat(129), "a%20b"]) {
    const answer = await call(open.app, "GET", `/v1/boxes/${id}`);
    expect([400, 404]).toContain(answer.status);
    expect(envelopeOf(answer).code).toMatch(/^(invalid_argument|not_found)$/);
    if (answer.status === 400) expect(envelopeOf(answer).message).toContain("is not a box id or name");
  }
  const traversal = await call(open.app, "DELETE", "/v1/boxes/..%2F..%2Ftmp");
  expect(traversal.status).toBe(400);
  // An encoded dot segment is a dot segment to the URL parser: it never names a box.
  expect(envelopeOf(await call(open.app, "POST", "/v1/boxes/%2E%2E/start")).message).toBe("no route POST /v1/start; see GET /v1/openapi.json");
});

test("an unknown route or method is a 404 envelope naming it", async () => {
  const route = await call(open.app, "GET", "/v1/boxen");
  expect(route.status).toBe(404);
  expect(envelopeOf(route)).toMatchObject({ type: "NotFoundError", code: "not_found", message: "no route GET /v1/boxen; see GET /v1/openapi.json" });
  expect(envelopeOf(await call(open.app, "PATCH", "/v1/boxes")).message).toContain("no route PATCH /v1/boxes");
  expect((await call(open.app, "GET", "/")).status).toBe(404);
});

test("an unexpected failure is a JSON 500 that hides its text and is logged to stderr with its request id", async () => {
  const { app, executions } = makeApp();
  app.get("/v1/test-only/boom", () => {
    throw new Error("secret detail /etc/shadow");
  });
  const logged: string[] = [];
  const spy = spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
    logged.push(String(chunk));
    return true;
  });
  try {
    const answer = await call(app, "GET", "/v1/test-only/boom", { headers: { "X-Request-Id": "boom-1" } });
    expect(answer.status).toBe(500);
    expect(envelopeOf(answer)).toMatchObject({ type: "InternalError", code: "internal", request_id: "boom-1" });
    expect(answer.text).not.toContain("secret");
  } finally {
    spy.mockRestore();
    await executions.close();
  }
  const log = logged.join("");
  expect(log).toContain("level=error");
  expect(log).toContain('request_id="boom-1"');
  expect(log).toContain("secret detail /etc/shadow");
});
