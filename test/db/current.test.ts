import { Database } from "bun:sqlite";
import { afterAll, expect, test } from "bun:test";
import { copyFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openCurrentDatabase, openDatabase } from "../../src/db/database.ts";
import { readHostBootId } from "../../src/util/boot-id.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-current-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const newHome = () => join(root, String(counter++));

test("a home with no database is not opened without the lock", () => {
  expect(openCurrentDatabase(newHome())).toBeUndefined();
});

test("a current home seen this boot opens lock-free, without writing", () => {
  const home = newHome();
  openDatabase({ home }).close();
  const path = join(home, "db", "boxlite.db");
  const before = statSync(path).mtimeMs;
  const current = openCurrentDatabase(home);
  expect(current).toBeDefined();
  expect(current?.db.query("SELECT version FROM schema_version").get()).toEqual({ version: 9 });
  current?.close();
  expect(statSync(path).mtimeMs).toBe(before);
});

test("a home last opened in another host boot needs the locked open (reboot recovery)", () => {
  const home = newHome();
  openDatabase({ home, bootId: "an-earlier-boot" }).close();
  expect(readHostBootId()).not.toBe("an-earlier-boot");
  expect(openCurrentDatabase(home)).toBeUndefined();
});

test("a home at an older schema needs the locked open (migration)", () => {
  const home = newHome();
  const database = openDatabase({ home });
  database.db.run("UPDATE schema_version SET version = 8");
  database.close();
  expect(openCurrentDatabase(home)).toBeUndefined();
});

test("a closed home keeps an empty WAL and its -shm, with every write already in boxlite.db", () => {
  const home = newHome();
  const database = openDatabase({ home });
  database.db.run("UPDATE schema_version SET updated_at = '2030-01-01T00:00:00Z'");
  expect(statSync(join(home, "db", "boxlite.db-wal")).size).toBeGreaterThan(0);
  database.close();
  // Kept (no file churn per command) but empty: the last close checkpointed it.
  expect(statSync(join(home, "db", "boxlite.db-wal")).size).toBe(0);
  expect(statSync(join(home, "db", "boxlite.db-shm")).isFile()).toBe(true);
  // So boxlite.db alone, copied without them, holds everything.
  const copy = join(root, "copy.db");
  copyFileSync(join(home, "db", "boxlite.db"), copy);
  const alone = new Database(copy, { readonly: true });
  expect(alone.query("SELECT updated_at FROM schema_version").get()).toEqual({ updated_at: "2030-01-01T00:00:00Z" });
  alone.close();
  // The lock-free open keeps them too.
  openCurrentDatabase(home)?.close();
  expect(statSync(join(home, "db", "boxlite.db-wal")).size).toBe(0);
});
