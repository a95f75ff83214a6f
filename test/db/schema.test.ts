/**
 * A new home gets the reference's schema v9 (boxlite-ai/boxlite `src/boxlite/src/db/schema.rs`), checked column by
 * column, index by index and constraint by constraint against the table below, which is
 * written from the reference, not from migrations/schema-v9.sql.
 */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LISTING_INDEXES, V9_TABLES } from "./expect-migrated.ts";
import { database } from "./load.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-schema-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const newHome = () => join(root, String(counter++));

type Column = [name: string, type: string, notNull: number, defaultValue: string | null, pk: number];
const T = (name: string, type = "TEXT"): Column => [name, type, 1, null, 0];
const COLUMNS: Record<string, Column[]> = {
  schema_version: [["id", "INTEGER", 0, null, 1], T("version", "INTEGER"), T("updated_at")],
  box_config: [["id", "TEXT", 1, null, 1], ["name", "TEXT", 0, null, 0], T("created_at", "INTEGER"), T("json")],
  box_state: [["id", "TEXT", 1, null, 1], T("status"), ["pid", "INTEGER", 0, null, 0], T("json")],
  alive: [["id", "INTEGER", 0, null, 1], T("boot_id"), T("started_at", "INTEGER")],
  image_index: [["reference", "TEXT", 1, null, 1], T("manifest_digest"), T("config_digest"), T("layers"), T("cached_at"), ["complete", "INTEGER", 1, "0", 0]],
  base_disk: [["id", "TEXT", 1, null, 1], T("source_box_id"), ["name", "TEXT", 0, null, 0], T("kind"), T("base_path"), T("created_at", "INTEGER"), T("json")],
  base_disk_ref: [
    ["base_disk_id", "TEXT", 1, null, 1],
    ["box_id", "TEXT", 1, null, 2],
  ],
  snapshot: [["id", "TEXT", 1, null, 1], T("box_id"), T("name"), T("created_at", "INTEGER"), T("json")],
};

/** "origin/unique columns" for constraints, "name/unique columns" for CREATE INDEX. */
const INDEXES: Record<string, string[]> = {
  schema_version: [],
  box_config: ["pk/1 id", "u/1 name", "idx_box_config_created_at/0 created_at", "idx_box_config_name/0 name"],
  box_state: ["pk/1 id", "idx_box_state_status/0 status", "idx_box_state_pid/0 pid"],
  alive: [],
  image_index: ["pk/1 reference", "idx_image_index_manifest_digest/0 manifest_digest"],
  base_disk: ["pk/1 id", "u/1 source_box_id,name", "idx_base_disk_source/0 source_box_id", "idx_base_disk_kind/0 kind", "idx_base_disk_path/0 base_path"],
  base_disk_ref: ["pk/1 base_disk_id,box_id"],
  snapshot: ["pk/1 id", "u/1 box_id,name", "idx_snapshot_box/0 box_id"],
};

/** The reference's indexes of `table`: our listing indexes are checked on their own below. */
function describeIndexes(db: Database, table: string): string[] {
  const list = db.query<{ name: string; unique: number; origin: string }, []>(`PRAGMA index_list("${table}")`).all();
  return list
    .filter((index) => !LISTING_INDEXES.includes(index.name))
    .map((index) => {
      const columns = db
        .query<{ name: string }, []>(`PRAGMA index_info("${index.name}")`)
        .all()
        .map((c) => c.name)
        .join(",");
      return `${index.origin === "c" ? index.name : index.origin}/${index.unique} ${columns}`;
    })
    .sort();
}

test("a new home gets exactly the reference's v9 tables, columns and indexes", () => {
  const handle = database.openDatabase({ home: newHome(), bootId: "boot-a" });
  const { db } = handle;
  try {
    const tables = db.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    expect(tables.map((t) => t.name)).toEqual(V9_TABLES);
    for (const table of V9_TABLES) {
      const columns = db
        .query<{ name: string; type: string; notnull: number; dflt_value: string | null; pk: number }, []>(`PRAGMA table_info("${table}")`)
        .all();
      expect([table, columns.map((c) => [c.name, c.type, c.notnull, c.dflt_value, c.pk])]).toEqual([table, COLUMNS[table] ?? []]);
      expect([table, describeIndexes(db, table)]).toEqual([table, [...(INDEXES[table] ?? [])].sort()]);
    }
    const keys = db.query<{ table: string; from: string; to: string; on_delete: string }, []>("PRAGMA foreign_key_list(box_state)").all();
    expect(keys.map((k) => [k.table, k.from, k.to, k.on_delete])).toEqual([["box_config", "id", "id", "CASCADE"]]);
    for (const table of V9_TABLES.filter((t) => t !== "box_state")) {
      expect([table, db.query(`PRAGMA foreign_key_list("${table}")`).all()]).toEqual([table, []]);
    }
  } finally {
    handle.close();
  }
});

test("beyond the reference's schema there are only our two listing indexes, neither unique", () => {
  const handle = database.openDatabase({ home: newHome(), bootId: "boot-a" });
  try {
    const extra = handle.db
      .query<{ type: string; name: string; tbl_name: string }, []>(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE name LIKE 'boxlite%' OR type NOT IN ('table', 'index') ORDER BY name",
      )
      .all();
    expect(extra).toEqual([
      { type: "index", name: "boxlite_box_config_listing_v7", tbl_name: "box_config" },
      { type: "index", name: "boxlite_box_state_listing_v7", tbl_name: "box_state" },
    ]);
    // A unique index would let our schema refuse a row the reference writes.
    for (const table of ["box_config", "box_state"]) {
      const ours = handle.db
        .query<{ name: string; unique: number }, []>(`PRAGMA index_list("${table}")`)
        .all()
        .filter((index) => LISTING_INDEXES.includes(index.name));
      expect(ours.map((index) => index.unique)).toEqual([0]);
    }
  } finally {
    handle.close();
  }
});

test("the schema's CHECK constraints hold: one version row, one alive row, three base kinds", () => {
  const handle = database.openDatabase({ home: newHome(), bootId: "boot-a" });
  const { db } = handle;
  try {
    expect(() => db.run("INSERT INTO schema_version VALUES (2, 9, 'x')")).toThrow(/CHECK/);
    expect(() => db.run("INSERT INTO alive VALUES (2, 'b', 0)")).toThrow(/CHECK/);
    expect(() => db.run("INSERT INTO base_disk VALUES ('a', 'b', NULL, 'bogus', '/p', 0, '{}')")).toThrow(/CHECK/);
    for (const kind of ["snapshot", "clone_base", "rootfs"]) db.run(`INSERT INTO base_disk VALUES ('${kind}', 'b', NULL, '${kind}', '/p', 0, '{}')`);
    // NULL names never collide, so any number of unnamed bases per box.
    expect(db.query("SELECT count(*) AS n FROM base_disk WHERE source_box_id = 'b' AND name IS NULL").get()).toEqual({ n: 3 });
    expect(() => db.run("INSERT INTO box_state VALUES ('ghost', 'running', NULL, '{}')")).toThrow(/FOREIGN KEY/);
  } finally {
    handle.close();
  }
});

test("the connection runs in WAL mode with synchronous=FULL, foreign keys and a 100 s busy timeout", () => {
  const handle = database.openDatabase({ home: newHome(), bootId: "boot-a" });
  try {
    const pragma = (name: string) => Object.values(handle.db.query(`PRAGMA ${name}`).get() ?? {})[0];
    expect([pragma("journal_mode"), pragma("synchronous"), pragma("foreign_keys"), pragma("busy_timeout")]).toEqual(["wal", 2, 1, 100000]);
    expect(handle.db.query("SELECT version FROM schema_version").all()).toEqual([{ version: 9 }]);
    expect(handle.previousVersion).toBeUndefined();
    expect(handle.migrated).toEqual([]);
  } finally {
    handle.close();
  }
});

test("the database and its directory are private to the user", () => {
  const home = newHome();
  database.openDatabase({ home, bootId: "boot-a" }).close();
  expect(statSync(join(home, "db")).mode & 0o777).toBe(0o700);
  expect(statSync(join(home, "db", "boxlite.db")).mode & 0o777).toBe(0o600);
});

test("alive records the boot id and reports a reboot once, on the first open after it", () => {
  const home = newHome();
  const opens = ["boot-a", "boot-a", "boot-b", "boot-b", "boot-a"].map((bootId) => {
    const handle = database.openDatabase({ home, bootId });
    handle.close();
    return handle.hostRebooted;
  });
  expect(opens).toEqual([false, false, true, false, true]);
  const db = new Database(join(home, "db", "boxlite.db"), { readonly: true });
  expect(db.query("SELECT id, boot_id FROM alive").all()).toEqual([{ id: 1, boot_id: "boot-a" }]);
  db.close();
});

test("without a given boot id the host's own is recorded", () => {
  const handle = database.openDatabase({ home: newHome() });
  const row = handle.db.query<{ boot_id: string }, []>("SELECT boot_id FROM alive").get();
  handle.close();
  expect(row?.boot_id).toBe(readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim());
});

test("an open that does not record the boot reports a reboot without consuming it", () => {
  const home = newHome();
  const open = (bootId: string, recordBoot?: boolean) => {
    const handle = database.openDatabase({ home, bootId, recordBoot });
    handle.close();
    return handle.hostRebooted;
  };
  expect([open("boot-a"), open("boot-b", false), open("boot-b", false), open("boot-b"), open("boot-b")]).toEqual([false, true, true, true, false]);
});
