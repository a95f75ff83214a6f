/** Homes this boxlite must not touch: a newer schema, an impossible one, a file that is not a database. */
import { afterAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../../src/util/errors.ts";
import { listFiles, sha256 } from "./home-state.ts";
import { database } from "./load.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-newer-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;

/** A home whose database says schema `version`, written as the reference writes it (WAL). */
function homeAtVersion(version: number): string {
  const home = join(root, String(counter++));
  mkdirSync(join(home, "db"), { recursive: true });
  const db = new Database(join(home, "db", "boxlite.db"), { create: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("CREATE TABLE schema_version (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, updated_at TEXT NOT NULL)");
  db.run("CREATE TABLE box_config (id TEXT PRIMARY KEY NOT NULL, name TEXT UNIQUE, created_at INTEGER NOT NULL, json TEXT NOT NULL, color TEXT)");
  db.run(`INSERT INTO schema_version VALUES (1, ${version}, '2030-01-01T00:00:00Z')`);
  db.close();
  return home;
}

function openError(home: string): BoxliteError {
  try {
    database.openDatabase({ home, bootId: "boot-a" }).close();
  } catch (error) {
    if (error instanceof BoxliteError) return error;
    throw error;
  }
  throw new Error("the open succeeded");
}

function snapshot(home: string): Record<string, string> {
  return Object.fromEntries(listFiles(home).map((file) => [file, sha256(join(home, file))]));
}

test("a home written by a newer boxlite is refused and left byte-identical", () => {
  const home = homeAtVersion(10);
  const before = snapshot(home);
  const error = openError(home);
  expect(error.code).toBe("database");
  expect(error.message).toContain("this home was written by a newer boxlite (schema v10");
  expect(error.message).toContain("upgrade boxlite");
  expect(snapshot(home)).toEqual(before);
});

test("a schema older than any release is refused, unchanged, rather than guessed at", () => {
  const home = homeAtVersion(1);
  const before = snapshot(home);
  const error = openError(home);
  expect([error.code, error.message.includes("schema v1")]).toEqual(["database", true]);
  expect(snapshot(home)).toEqual(before);
});

test("a database file that is not SQLite is reported with its path", () => {
  const home = join(root, String(counter++));
  mkdirSync(join(home, "db"), { recursive: true });
  writeFileSync(join(home, "db", "boxlite.db"), "this is not a database, it is a shopping list\n".repeat(100));
  const error = openError(home);
  expect(error.code).toBe("database");
  expect(error.message).toContain(join(home, "db", "boxlite.db"));
});

test("a relative home is a caller bug, caught before anything is created", () => {
  expect(() => database.openDatabase({ home: "relative/home" })).toThrow(/absolute/);
});
