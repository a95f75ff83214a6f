/** The JSON-rewriting steps (v7 → v8 networks, v8 → v9 ports) and the file primitives, one case at a time. */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { moveFile } from "../../src/db/files.ts";
import type { JsonValue } from "../../src/db/json.ts";
import { normalizeLegacyPorts } from "../../src/db/steps/v8-to-v9.ts";
import { BoxliteError } from "../../src/util/errors.ts";
import { dumpTables } from "./home-state.ts";
import { LEGACY_SCHEMAS } from "./legacy-schemas.ts";
import { database, rootfsBase } from "./load.ts";

const { moveRootfsBase } = rootfsBase;

const root = mkdtempSync(join(tmpdir(), "boxlite-steps-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** A v2, v7 or v8 home holding these box_config blobs, by id. */
function homeWith(version: number, blobs: Record<string, string>): { home: string; dbPath: string } {
  const home = join(root, String(counter++));
  const dbPath = join(home, "db", "boxlite.db");
  mkdirSync(join(home, "db"), { recursive: true });
  const db = new Database(dbPath, { create: true });
  db.run(LEGACY_SCHEMAS[version] ?? "");
  db.run(`INSERT INTO schema_version VALUES (1, ${version}, 'then')`);
  for (const [id, json] of Object.entries(blobs)) {
    if (version === 2) db.query("INSERT INTO box_config VALUES (?1, 0, ?2)").run(id, json);
    else db.query("INSERT INTO box_config VALUES (?1, NULL, 0, ?2)").run(id, json);
    db.query("INSERT INTO box_state VALUES (?1, 'stopped', NULL, '{\"status\":\"stopped\"}')").run(id);
  }
  db.close();
  return { home, dbPath };
}

function configs(dbPath: string): Record<string, string> {
  return Object.fromEntries((dumpTables(dbPath).box_config ?? []).map((row) => [String(row.id), String(row.json)]));
}

test("v7 → v8 turns the Isolated network into Enabled with no allow-list and leaves other networks as written", () => {
  const blobs = {
    iso: '{"id":"iso","options":{"network":"Isolated","cpus":1}}',
    off: '{"id":"off","options":{"network":"Disabled"}}',
    allow: '{"id":"allow","options":{"network":{"Enabled":{"allow_net":["example.com"]}}}}',
  };
  const { home, dbPath } = homeWith(7, blobs);
  database.openDatabase({ home, bootId: "b" }).close();
  expect(configs(dbPath)).toEqual({ ...blobs, iso: '{"id":"iso","options":{"network":{"Enabled":{"allow_net":[]}},"cpus":1}}' });
});

test("legacy port mappings become explicit: null host port → the guest port, TCP, any address", () => {
  const ports = [
    { host_port: null, guest_port: 80, protocol: "Tcp", host_ip: null },
    { host_port: 8443, guest_port: 443, protocol: "tcp", host_ip: null, label: "kept" },
    { guest_port: 22 },
    { host_port: null, guest_port: 5353, protocol: "Udp", host_ip: "::1" },
  ];
  expect(normalizeLegacyPorts(ports, "b")).toEqual([
    { host_port: 80, guest_port: 80, protocol: "Tcp", host_ip: null },
    { host_port: 8443, guest_port: 443, protocol: "tcp", host_ip: null, label: "kept" },
    { guest_port: 22, host_port: 22, protocol: "Tcp", host_ip: null },
    { host_port: 5353, guest_port: 5353, protocol: "Tcp", host_ip: null },
  ]);
});

test("of mappings sharing a host port the last wins, and the survivors keep their order", () => {
  const ports = [
    { host_port: 8080, guest_port: 1, protocol: "Tcp", host_ip: null },
    { host_port: null, guest_port: 2, protocol: "Tcp", host_ip: null },
    { host_port: null, guest_port: 8080, protocol: "Tcp", host_ip: null },
    { host_port: 2, guest_port: 3, protocol: "Tcp", host_ip: null },
  ];
  expect(normalizeLegacyPorts(ports, "b").map((port) => [port.host_port, port.guest_port])).toEqual([
    [8080, 8080],
    [2, 3],
  ]);
});

test("a mapping that is not a mapping names the box and the entry", () => {
  const cases: [JsonValue, string][] = [
    [{}, "options.ports is not a list"],
    [[7], "options.ports[0]"],
    [[{ guest_port: 0 }], "options.ports[0].guest_port"],
    [[{ guest_port: 1, host_port: "x" }], "options.ports[0].host_port"],
  ];
  for (const [ports, where] of cases) {
    expect(() => normalizeLegacyPorts(ports, "boxq")).toThrow(`box boxq: box_config.json is unreadable: ${where}`);
  }
});

test("v8 → v9 rewrites only the ports of the boxes that need it, byte for byte elsewhere", () => {
  const blobs = {
    legacy: '{"id":"legacy","big":12345678901234567890,"options":{"ports":[{"host_port":null,"guest_port":80,"protocol":"Tcp","host_ip":null}],"x":1.50}}',
    explicit: '{"id":"explicit", "options": {"ports": [{"host_port": 80, "guest_port": 80, "protocol": "Tcp", "host_ip": null}]}}',
    none: '{"id":"none","options":{}}',
    nulled: '{"id":"nulled","options":{"ports":null}}',
  };
  const { home, dbPath } = homeWith(8, blobs);
  database.openDatabase({ home, bootId: "b" }).close();
  expect(configs(dbPath)).toEqual({
    ...blobs,
    legacy: '{"id":"legacy","big":12345678901234567890,"options":{"ports":[{"host_port":80,"guest_port":80,"protocol":"Tcp","host_ip":null}],"x":1.50}}',
  });
});

test("a damaged box_config blob stops v8 → v9 with the box and the step named, and the home stays at v8", () => {
  const { home, dbPath } = homeWith(8, { good: '{"options":{"ports":[]}}', broken: '{"options":{"ports":[' });
  let error: unknown;
  try {
    database.openDatabase({ home, bootId: "b" });
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(BoxliteError);
  expect((error as BoxliteError).code).toBe("database");
  expect((error as BoxliteError).message).toContain("step v8-to-v9");
  expect((error as BoxliteError).message).toContain("box broken: box_config.json");
  expect(dumpTables(dbPath).schema_version?.[0]?.version).toBe(8);
  const db = new Database(dbPath);
  db.run(`UPDATE box_config SET json = '{"options":{"ports":[]}}' WHERE id = 'broken'`);
  db.close();
  database.openDatabase({ home, bootId: "b" }).close();
  expect(dumpTables(dbPath).schema_version?.[0]?.version).toBe(9);
});

test("a damaged blob in a v2 home is reported by box when the chain first needs to read it", () => {
  const { home, dbPath } = homeWith(2, { good: '{"name":"g","options":{}}', broken: '{"name":"b",' });
  expect(() => database.openDatabase({ home, bootId: "b" })).toThrow(/step v8-to-v9.*box broken: box_config\.json/);
  // Everything before the step that had to parse the blob was committed.
  const tables = dumpTables(dbPath);
  expect([tables.schema_version?.[0]?.version, tables.box_config?.map((row) => row.name)]).toEqual([8, ["g", null]]);
});

function exdev(): never {
  throw Object.assign(new Error("EXDEV: cross-device link not permitted"), { code: "EXDEV" });
}

test("a move across filesystems copies, publishes the copy whole, then removes the source", () => {
  const dir = join(root, String(counter++));
  mkdirSync(dir);
  const bytes = crypto.getRandomValues(new Uint8Array(300_000));
  writeFileSync(join(dir, "from"), bytes);
  moveFile(join(dir, "from"), join(dir, "to"), { rename: exdev });
  expect(new Uint8Array(readFileSync(join(dir, "to")))).toEqual(bytes);
  expect([existsSync(join(dir, "from")), existsSync(join(dir, "to.partial"))]).toEqual([false, false]);
});

test("a rootfs-base copy interrupted before the source was removed is finished by the next attempt", () => {
  const dir = join(root, String(counter++));
  mkdirSync(dir);
  const [source, dest] = [join(dir, "rootfs-base"), join(dir, "Base0001.ext4")];
  writeFileSync(source, "base bytes");
  const crash = () => {
    throw new Error("crash after the copy was published");
  };
  expect(() => moveFile(source, dest, { rename: exdev, onCopied: crash })).toThrow("crash after");
  expect([readFileSync(source, "utf8"), readFileSync(dest, "utf8")]).toEqual(["base bytes", "base bytes"]);
  const context = { warn: (message: string) => expect(message).toBe("no warnings"), point: () => {} };
  moveRootfsBase("box1", source, dest, context);
  expect([existsSync(source), readFileSync(dest, "utf8")]).toEqual([false, "base bytes"]);
});

test("a rootfs-base whose destination holds different bytes is a conflict naming both files, and nothing is deleted", () => {
  const dir = join(root, String(counter++));
  mkdirSync(dir);
  const [source, dest] = [join(dir, "rootfs-base"), join(dir, "Base0001.ext4")];
  writeFileSync(source, "base bytes");
  writeFileSync(dest, "something else entirely");
  const context = { warn: () => {}, point: () => {} };
  let error: unknown;
  try {
    moveRootfsBase("box1", source, dest, context);
  } catch (caught) {
    error = caught;
  }
  expect((error as BoxliteError).code).toBe("conflict");
  expect((error as BoxliteError).message).toContain(source);
  expect((error as BoxliteError).message).toContain(dest);
  expect([readFileSync(source, "utf8"), readFileSync(dest, "utf8")]).toEqual(["base bytes", "something else entirely"]);
});
