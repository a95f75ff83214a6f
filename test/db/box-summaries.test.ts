import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listBoxSummaries, listingSql } from "../../src/db/box-summaries.ts";
import { hasListingIndexes } from "../../src/db/listing-indexes.ts";
import { getBox, insertBox, listBoxes } from "../../src/db/boxes.ts";
import { boxView, VIEW_DEFAULTS } from "../../src/runtime/box-view.ts";
import { errorOf } from "../helpers/errors.ts";
import { openCurrentDatabase, openDatabase } from "../../src/db/database.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-summaries-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const { db } = openDatabase({ home: root });
const DEFAULTS = { cpus: 7, memoryMib: 999 };

function add(id: string, status: "running" | "stopped", createdAt: string, options: Record<string, unknown>) {
  insertBox(
    db,
    { id, name: null, created_at: createdAt, options: options as never },
    { status, pid: status === "running" ? 42 : null, exit_code: status === "stopped" ? 3 : null },
  );
}

add("old_stopped", "stopped", "2026-01-01T00:00:00Z", { rootfs: { RootfsPath: "/srv/rootfs" }, cpus: 4 });
add("new_running", "running", "2026-02-01T00:00:00Z", { rootfs: { Image: "alpine:latest" }, memory_mib: 2048, unknown: [1, 2] });

test("the listing reads both rootfs shapes, newest first, and fills left-out options with the caller's defaults", () => {
  expect(listBoxSummaries(db, DEFAULTS).map((box) => [box.box_id, box.image, box.status, box.pid, box.cpus, box.memory_mib, box.exit_code])).toEqual([
    ["new_running", "alpine:latest", "running", 42, 7, 2048, null],
    ["old_stopped", "/srv/rootfs", "stopped", null, 4, 999, 3],
  ]);
});

test("activeOnly keeps only boxes with a VM", () => {
  expect(listBoxSummaries(db, DEFAULTS, { activeOnly: true }).map((box) => box.box_id)).toEqual(["new_running"]);
});

test("a damaged blob is an error naming the box, not a crash", () => {
  db.run("UPDATE box_config SET json = '{not json' WHERE id = 'old_stopped'");
  expect(() => listBoxSummaries(db, DEFAULTS)).toThrow(/box old_stopped: box_config.json is unreadable: it is not valid JSON/);
  expect(listBoxSummaries(db, DEFAULTS, { activeOnly: true })).toHaveLength(1);
});

test("a blob that is JSON but not an object is an error naming the box", () => {
  db.run(`UPDATE box_config SET json = '["not", "an", "object"]' WHERE id = 'old_stopped'`);
  expect(() => listBoxSummaries(db, DEFAULTS)).toThrow(/box old_stopped: box_config.json is unreadable: it is not a JSON object/);
});

describe("the listing indexes", () => {
  const home = join(root, "indexed");
  const ids = ["b1", "b2", "b3"];
  beforeAll(() => {
    const indexed = openDatabase({ home });
    for (const [i, id] of ids.entries())
      insertBox(
        indexed.db,
        { id, name: null, created_at: `2026-03-0${i + 1}T00:00:00Z`, options: { rootfs: { Image: `img${i}` } } as never },
        { status: "stopped", pid: null, exit_code: 0 },
      );
    indexed.close();
  });

  test("every box is listed from the two indexes alone, in their order: no blob read, no sort", () => {
    const indexed = openDatabase({ home });
    const plan = indexed.db
      .query<{ detail: string }, []>(`EXPLAIN QUERY PLAN ${listingSql(false)}`)
      .all()
      .map((row) => row.detail);
    indexed.close();
    expect(plan).toEqual(["SCAN c USING COVERING INDEX boxlite_box_config_listing_v7", "SEARCH s USING COVERING INDEX boxlite_box_state_listing_v7 (id=?)"]);
  });

  test("a home with the indexes of an earlier build gets the current ones instead", () => {
    const earlier = openDatabase({ home });
    earlier.db.run("DROP INDEX boxlite_box_config_listing_v7");
    earlier.db.run("DROP INDEX boxlite_box_state_listing_v7");
    earlier.db.run("CREATE INDEX boxlite_box_config_listing ON box_config(created_at, id, name)");
    earlier.db.run("CREATE INDEX boxlite_box_config_listing_v2 ON box_config(created_at, id)");
    earlier.db.run("CREATE INDEX boxlite_box_state_listing ON box_state(id, status)");
    earlier.db.run("CREATE INDEX boxlite_box_config_listing_v3 ON box_config(created_at, name)");
    earlier.db.run("CREATE INDEX boxlite_box_state_listing_v3 ON box_state(id, pid)");
    earlier.db.run("CREATE INDEX boxlite_box_config_listing_v4 ON box_config(created_at, id, name, json)");
    earlier.db.run("CREATE INDEX boxlite_box_state_listing_v4 ON box_state(id, status, json)");
    earlier.db.run("CREATE INDEX boxlite_box_config_listing_v5 ON box_config(created_at, name, json)");
    earlier.db.run("CREATE INDEX boxlite_box_state_listing_v5 ON box_state(id, pid, json)");
    earlier.close();
    expect(openCurrentDatabase(home)).toBeUndefined();
    const reopened = openDatabase({ home });
    const ours = reopened.db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE name LIKE 'boxlite%' ORDER BY name").all();
    const listed = listBoxSummaries(reopened.db, DEFAULTS).map((box) => box.box_id);
    reopened.close();
    expect(ours.map((index) => index.name)).toEqual(["boxlite_box_config_listing_v7", "boxlite_box_state_listing_v7"]);
    expect(listed).toEqual(["b3", "b2", "b1"]);
  });

  test("rows another program writes (the reference, the sqlite3 shell) are listed as written", () => {
    // A plain connection: none of our code runs on these writes, SQLite keeps the indexes.
    const other = new Database(join(home, "db", "boxlite.db"));
    other.run(`UPDATE box_state SET status = 'failed', json = json_set(json, '$.status', 'failed', '$.exit_code', 7, '$.error_reason', 'oom') WHERE id = 'b2'`);
    other.run(`UPDATE box_config SET json = json_set(json, '$.options.rootfs', json('{"RootfsPath": "/srv/root"}'), '$.options.cpus', 3) WHERE id = 'b3'`);
    other.run(
      `INSERT INTO box_config (id, name, created_at, json) VALUES ('b4', 'four', 0, '{"id":"b4","created_at":"2026-04-01T00:00:00Z","options":{"rootfs":{"Image":"ref:1"},"auto_remove":true}}')`,
    );
    other.run(`INSERT INTO box_state (id, status, pid, json) VALUES ('b4', 'configured', NULL, '{"status":"starting","last_updated":"2026-04-02T00:00:00Z"}')`);
    other.close();
    const indexed = openDatabase({ home });
    const boxes = listBoxSummaries(indexed.db, DEFAULTS);
    indexed.close();
    const row = (id: string) => boxes.find((box) => box.box_id === id);
    expect(row("b2")).toMatchObject({ status: "failed", exit_code: 7, error_reason: "oom", image: "img1" });
    expect(row("b3")).toMatchObject({ status: "stopped", image: "/srv/root", cpus: 3 });
    // A legacy status in the blob wins over the column, as in the full record read.
    expect(row("b4")).toMatchObject({ name: "four", status: "configured", image: "ref:1", auto_delete: 1, updated_at: "2026-04-02T00:00:00Z" });
  });

  test("an optional field of the wrong JSON type is read as absent: the default, the column, or null", () => {
    const other = new Database(join(home, "db", "boxlite.db"));
    other.run(
      `INSERT INTO box_config (id, name, created_at, json) VALUES ('odd', NULL, 0, '{"id":"odd","created_at":"2026-05-01T00:00:00Z","options":{"rootfs":"/plain/path","cpus":"4","memory_mib":true,"auto_remove":1}}')`,
    );
    other.run(`INSERT INTO box_state (id, status, pid, json) VALUES ('odd', 'stopped', 77, '{"pid":null,"last_updated":7,"exit_code":"3","error_reason":5}')`);
    other.close();
    const indexed = openDatabase({ home });
    const odd = listBoxSummaries(indexed.db, DEFAULTS).find((box) => box.box_id === "odd");
    indexed.db.run("DELETE FROM box_config WHERE id = 'odd'");
    indexed.close();
    expect(odd).toEqual({
      box_id: "odd",
      name: null,
      status: "stopped",
      created_at: "2026-05-01T00:00:00Z",
      updated_at: "2026-05-01T00:00:00Z",
      pid: 77,
      image: "/plain/path",
      cpus: 7,
      memory_mib: 999,
      exit_code: null,
      error_reason: null,
      auto_delete: 0,
      network: { mode: "enabled", allow_net: [], published_ports: [] },
      volumes: [],
    });
  });

  test("a row the full reader refuses is an error, in the full reader's words, for the listing too", () => {
    // Each breaks one rule of boxes.ts readConfig/readState that the listing does not itself need.
    const broken: Array<[string, string]> = [
      ['{"id":"bad","created_at":"2026-06-01T00:00:00Z","options":[]}', '{"status":"stopped"}'],
      ['{"id":"bad","created_at":"2026-06-01T00:00:00Z","name":7}', '{"status":"stopped"}'],
      ['{"created_at":"2026-06-01T00:00:00Z"}', '{"status":"stopped"}'],
      ['{"id":"bad","created_at":"2026-06-01T00:00:00Z"}', '{"status":3}'],
      ['{"id":"bad","created_at":"2026-06-01T00:00:00Z"}', '{"status":"stopped","pid":"12"}'],
      ['{"id":"bad","created_at":"2026-06-01T00:00:00Z"}', '{"status":"sleeping"}'],
    ];
    const indexed = openDatabase({ home });
    try {
      for (const [config, state] of broken) {
        indexed.db.run("INSERT INTO box_config (id, name, created_at, json) VALUES ('bad', NULL, 0, ?1)", [config]);
        indexed.db.run("INSERT INTO box_state (id, status, pid, json) VALUES ('bad', 'stopped', NULL, ?1)", [state]);
        const full = errorOf(() => getBox(indexed.db, "bad"));
        expect([full.code, full.message.includes("box bad")]).toEqual(["database", true]);
        expect(errorOf(() => listBoxSummaries(indexed.db, DEFAULTS)).message).toBe(full.message);
        indexed.db.run("DELETE FROM box_config WHERE id = 'bad'");
      }
      // A pid written as 12.0 is still an integer to both.
      indexed.db.run(`INSERT INTO box_config (id, name, created_at, json) VALUES ('bad', NULL, 0, '{"id":"bad","created_at":"2026-06-01T00:00:00Z"}')`);
      indexed.db.run(`INSERT INTO box_state (id, status, pid, json) VALUES ('bad', 'stopped', NULL, '{"status":"stopped","pid":12.0}')`);
      expect(listBoxSummaries(indexed.db, DEFAULTS).find((box) => box.box_id === "bad")?.pid).toBe(12);
      indexed.db.run("DELETE FROM box_config WHERE id = 'bad'");
    } finally {
      indexed.close();
    }
  });

  test("a home without them (one the reference made) gets them at its next locked open, even with a damaged blob", () => {
    const bare = openDatabase({ home });
    bare.db.run("DROP INDEX boxlite_box_config_listing_v7");
    bare.db.run("UPDATE box_state SET json = '{cut' WHERE id = 'b1'");
    bare.close();
    expect(openCurrentDatabase(home)).toBeUndefined();
    const reopened = openDatabase({ home });
    try {
      expect(hasListingIndexes(reopened.db)).toBe(true);
      expect(() => listBoxSummaries(reopened.db, DEFAULTS)).toThrow(/box b1: box_state.json is unreadable/);
    } finally {
      reopened.close();
    }
    const current = openCurrentDatabase(home);
    expect(current).toBeDefined();
    current?.close();
  });
});

describe("the listing and the full reader", () => {
  test("give the same view of every box they both take, whatever shape its blobs have", () => {
    const shapes = openDatabase({ home: join(root, "shapes") });
    const rows: Array<[id: string, name: string | null, status: string, pid: number | null, config: object, state: object]> = [
      // As the reference writes them: nanosecond times, every field.
      [
        "ref1",
        "web",
        "running",
        4242,
        {
          id: "ref1",
          name: "web",
          created_at: "2026-07-01T10:00:00.123456789Z",
          container: { id: "ab" },
          options: { rootfs: { Image: "alpine:3" }, cpus: 2, memory_mib: 1024, auto_remove: true },
        },
        { status: "running", pid: 4242, last_updated: "2026-07-01T10:00:01Z", exit_code: null, error_reason: null },
      ],
      // A rootfs path, a legacy status, the pid only in its column.
      [
        "ref2",
        null,
        "stopped",
        9,
        { id: "ref2", created_at: "2026-07-01T10:00:00.5Z", options: { rootfs: { RootfsPath: "/srv/root" } } },
        { status: "snapshotting", pid: null },
      ],
      // Optional fields of the wrong type, no status in the blob.
      [
        "odd1",
        null,
        "stopped",
        null,
        { id: "odd1", created_at: "2026-07-02T00:00:00Z", options: { rootfs: "/plain", cpus: "4", memory_mib: true, auto_remove: 1 } },
        { last_updated: 7, exit_code: "3", error_reason: 5 },
      ],
      // No options at all; a null status; a failure.
      [
        "odd2",
        "x",
        "failed",
        null,
        { id: "odd2", name: "x", created_at: "2026-07-03T00:00:00Z" },
        { status: null, exit_code: 137, error_reason: "killed\nby the OOM killer" },
      ],
      ["odd3", null, "paused", 77, { id: "odd3", created_at: "2026-07-03T00:00:00Z", options: null }, { status: "paused", pid: 77.0 }],
      // The reference's CLI keeps its boxes with auto_delete 0 whatever its deprecated auto_remove says; auto_delete N > 0 removes.
      [
        "ref3",
        null,
        "stopped",
        null,
        { id: "ref3", created_at: "2026-07-04T00:00:00Z", options: { auto_remove: true, auto_delete: 0 } },
        { status: "stopped" },
      ],
      [
        "ref4",
        null,
        "stopped",
        null,
        { id: "ref4", created_at: "2026-07-05T00:00:00Z", options: { auto_remove: false, auto_delete: 30 } },
        { status: "stopped" },
      ],
    ];
    for (const [id, name, status, pid, config, state] of rows) {
      shapes.db.run("INSERT INTO box_config (id, name, created_at, json) VALUES (?1, ?2, ?3, ?4)", [
        id,
        name,
        Math.floor(Date.parse((config as { created_at: string }).created_at) / 1000),
        JSON.stringify(config),
      ]);
      shapes.db.run("INSERT INTO box_state (id, status, pid, json) VALUES (?1, ?2, ?3, ?4)", [id, status, pid, JSON.stringify(state)]);
    }
    const listed = listBoxSummaries(shapes.db, VIEW_DEFAULTS);
    const full = listBoxes(shapes.db).map(boxView);
    const active = listBoxSummaries(shapes.db, VIEW_DEFAULTS, { activeOnly: true });
    const fullActive = listBoxes(shapes.db, { statuses: ["running", "paused"] }).map(boxView);
    shapes.close();
    expect(listed.map((box) => box.box_id)).toEqual(["ref4", "ref3", "odd3", "odd2", "odd1", "ref2", "ref1"]);
    expect(listed.map((box) => box.auto_delete)).toEqual([1, 0, 0, 0, 0, 0, 1]);
    expect(listed).toEqual(full);
    expect(active.map((box) => box.box_id)).toEqual(["odd3", "ref1"]);
    expect(active).toEqual(fullActive);
  });
});
