/**
 * 200 random requests at the app: a random method on a path of the route table with
 * random segments, random query strings and random bodies (malformed JSON, wrong types,
 * unknown fields, junk bytes). Each must be answered 2xx or 4xx, every error with the
 * JSON envelope, and the server must still answer afterwards. Seeded, so a failure can be
 * replayed: the seed is in the failure's message.
 */
import { afterAll, expect, test } from "bun:test";
import { ROUTES } from "../../src/api/schemas/routes.ts";
import { call, makeApp } from "./core-helpers.ts";
import { seededRandom } from "../helpers/random.ts";

const { app, executions } = makeApp();

afterAll(async () => {
  await executions.close();
});

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const random = seededRandom(SEED);
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const int = (max: number) => Math.floor(random() * max);

/**
 * Path segments. None can name a box of the home (ids begin with a digit 0-7, other
 * tests' names are words), so a fuzzed start or exec never boots a VM: the fuzzer stays
 * fast, and never leaves a box running.
 */
function segment(): string {
  return pick([
    () => `fz${int(1e6)}`,
    () => "..",
    () => "%2e%2e",
    () => "..%2F..%2Fetc",
    () => `fz${"x".repeat(200)}`,
    () => "fz%00nul",
    () => "fz%20space",
    () => "fz.name-ok_1",
    () => "sha256:0000",
    () => "%F0%9F%92%A5",
    () => "Fz%2Fslash",
    () => "",
  ])();
}

/** Values of any JSON type, nested a little. */
function value(depth = 0): unknown {
  const kinds = depth > 2 ? 5 : 7;
  switch (int(kinds)) {
    case 0:
      return null;
    case 1:
      return random() < 0.5;
    case 2:
      return pick([0, -1, 1, 1.5, 2 ** 53, 1e308, 3, 128, 65536]);
    case 3:
      return pick(["", "fz", "x".repeat(300), "\u0000", "../../etc/passwd", "🙂", "sleep"]);
    case 4:
      return pick([[], ["fz"], [1, 2]]);
    case 5:
      return Array.from({ length: int(3) }, () => value(depth + 1));
    default:
      return object(depth + 1);
  }
}

/** Fields of the API's request schemas, and some that are none of them. */
const FIELDS = [
  "name",
  "cpus",
  "memory_mib",
  "env",
  "cmd",
  "entrypoint",
  "working_dir",
  "user",
  "tty",
  "network",
  "advanced",
  "auto_delete",
  "detach",
  "command",
  "args",
  "signal",
  "cols",
  "rows",
  "timeout_seconds",
  "unknown_field",
  "__proto__",
  "constructor",
];
/** Fields whose string values would reach the network (a pull): fuzzed with other types only. */
const NETWORKED = ["image", "rootfs_path", "reference"];

function object(depth = 0): Record<string, unknown> {
  const result: Record<string, unknown> = {};
  for (let i = int(4); i > 0; i--) {
    const field = pick([...FIELDS, ...NETWORKED]);
    let fieldValue = value(depth);
    while (NETWORKED.includes(field) && typeof fieldValue === "string") fieldValue = value(depth);
    result[field] = fieldValue;
  }
  return result;
}

function body(): string | Uint8Array | undefined {
  return pick([
    () => undefined,
    () => "",
    () => "{",
    () => "null",
    () => '{"name": "fz", "name": 1}',
    () => JSON.stringify(value()),
    () => JSON.stringify(object()),
    () => JSON.stringify(object()),
    () => Uint8Array.from({ length: 64 }, () => int(256)),
  ])();
}

function query(): string {
  const names = ["force", "pageSize", "pageToken", "status", "path", "overwrite", "all", "name"];
  const values = ["true", "false", "maybe", "0", "1001", "-1", "%00", "running", "/etc", ""];
  const count = int(3);
  return count === 0 ? "" : `?${Array.from({ length: count }, () => `${pick(names)}=${pick(values)}`).join("&")}`;
}

test(`200 random requests get 2xx or 4xx, errors in the envelope, and the server stays up (seed ${SEED})`, async () => {
  const failures: string[] = [];
  for (let i = 0; i < 200; i++) {
    const route = pick(ROUTES);
    const method = random() < 0.7 ? route.method : pick(["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]);
    const path = `/v1${route.path.replace(/\{[a-z_]+\}/g, segment)}${query()}`;
    const sent = method === "GET" || method === "HEAD" ? undefined : body();
    const headers = pick<Record<string, string>>([{}, { "Content-Type": "application/json" }, { "Content-Type": "text/plain" }, { "X-Request-Id": `fz-${i}` }]);
    const answer = await call(app, method, path, { body: sent, headers });
    const what = `#${i} ${method} ${path} ${typeof sent === "string" ? sent.slice(0, 80) : sent ? "<bytes>" : ""} → ${answer.status} ${answer.text.slice(0, 200)}`;
    if (answer.status >= 500 || answer.status < 200 || (answer.status >= 300 && answer.status < 400)) failures.push(what);
    if (answer.status >= 400 && method !== "HEAD") {
      const error = (answer.json as { error?: { message?: unknown; type?: unknown; code?: unknown; request_id?: unknown } } | undefined)?.error;
      if (
        typeof error?.message !== "string" ||
        typeof error.type !== "string" ||
        typeof error.code !== "string" ||
        error.request_id !== answer.headers.get("X-Request-Id")
      ) {
        failures.push(`no envelope: ${what}`);
      }
    }
  }
  expect(failures).toEqual([]);
  expect((await call(app, "GET", "/v1/config")).status).toBe(200);
  expect((await call(app, "GET", "/v1/boxes")).status).toBe(200);
});
