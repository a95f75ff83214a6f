/** box_config + box_state through src/db/boxes.ts on a real v9 database. */
import { expect, test } from "bun:test";
import type { Database } from "bun:sqlite";
import {
  type BoxConfigJson,
  type BoxStateJson,
  deleteBox,
  findBoxesByIdPrefix,
  getBox,
  getBoxByName,
  insertBox,
  listBoxes,
  resolveBox,
  updateBoxState,
} from "../../src/db/boxes.ts";
import { addBaseDiskRef, listBaseDiskDependents } from "../../src/db/bases.ts";
import { listBoxSummaries } from "../../src/db/box-summaries.ts";
import { insertSnapshot, listSnapshots } from "../../src/db/snapshots.ts";
import { BoxliteError } from "../../src/util/errors.ts";
import { eachTestDatabase } from "./load.ts";
import { errorOf } from "../helpers/errors.ts";

let db: Database;
eachTestDatabase("boxlite-boxes-", (fresh) => (db = fresh));

function config(id: string, name: string | null, createdAt = "2025-06-15T10:00:00Z"): BoxConfigJson {
  return { id, name, created_at: createdAt, container: { id: "cd".repeat(32) }, options: { cpus: 1, ports: [] }, engine_kind: "Libkrun", box_home: `/h/${id}` };
}
const configured: BoxStateJson = { status: "configured", pid: null, container_id: null, last_updated: "2025-06-15T10:00:00Z", lock_id: null };

test("a box is stored with its indexed columns and read back whole", () => {
  insertBox(db, config("box1aaaaaaaa", "web"), configured);
  const box = getBox(db, "box1aaaaaaaa");
  expect(box).toEqual({
    id: "box1aaaaaaaa",
    name: "web",
    createdAt: 1749981600,
    status: "configured",
    pid: null,
    config: config("box1aaaaaaaa", "web"),
    state: configured,
  });
  expect(db.query("SELECT status, pid FROM box_state").all()).toEqual([{ status: "configured", pid: null }]);
  expect(getBoxByName(db, "web")?.id).toBe("box1aaaaaaaa");
});

test("a taken name or id is already_exists, saying which", () => {
  insertBox(db, config("box1aaaaaaaa", "web"), configured);
  const byName = errorOf(() => insertBox(db, config("box2bbbbbbbb", "web"), configured));
  expect([byName.code, byName.message.includes('"web"')]).toEqual(["already_exists", true]);
  const byId = errorOf(() => insertBox(db, config("box1aaaaaaaa", "other"), configured));
  expect([byId.code, byId.message.includes("box1aaaaaaaa")]).toEqual(["already_exists", true]);
  // Nothing half-inserted: the failed box left no state row behind.
  expect(db.query("SELECT count(*) AS n FROM box_state").get()).toEqual({ n: 1 });
});

test("any number of boxes may be unnamed", () => {
  insertBox(db, config("box1aaaaaaaa", null), configured);
  insertBox(db, config("box2bbbbbbbb", null), configured);
  expect(listBoxes(db).map((box) => box.name)).toEqual([null, null]);
});

test("boxes are listed newest first to the millisecond, the same instant by id, and filtered by status", () => {
  // The created_at column holds whole seconds; within one, BoxConfig's created_at decides,
  // then the id: never the order of insertion.
  insertBox(db, config("late00000000", null, "2025-02-01T00:00:00.900Z"), configured);
  insertBox(db, config("old000000000", null, "2025-01-01T00:00:00.000Z"), configured);
  insertBox(db, config("tie222222222", null, "2025-02-01T00:00:00.100Z"), { ...configured, status: "running", pid: 7 });
  insertBox(db, config("tie111111111", null, "2025-02-01T00:00:00.100Z"), configured);
  insertBox(db, config("early0000000", null, "2025-02-01T00:00:00.050Z"), configured);
  const newestFirst = ["late00000000", "tie222222222", "tie111111111", "early0000000", "old000000000"];
  expect(listBoxes(db).map((box) => box.id)).toEqual(newestFirst);
  expect(listBoxSummaries(db, { cpus: 1, memoryMib: 512 }).map((box) => box.box_id)).toEqual(newestFirst);
  expect(listBoxes(db, { statuses: ["running", "paused"] }).map((box) => box.id)).toEqual(["tie222222222"]);
});

test("a box is found by id, by name, or by a unique id prefix, and an ambiguous prefix lists the candidates", () => {
  insertBox(db, config("abc111111111", "first"), configured);
  insertBox(db, config("abc222222222", "abc1"), configured);
  insertBox(db, config("a_c333333333", null), configured);
  expect(resolveBox(db, "abc111111111")?.id).toBe("abc111111111");
  // An exact name wins over an id prefix.
  expect(resolveBox(db, "abc1")?.id).toBe("abc222222222");
  expect(resolveBox(db, "abc2")?.id).toBe("abc222222222");
  expect(resolveBox(db, "nope")).toBeUndefined();
  const ambiguous = errorOf(() => resolveBox(db, "abc"));
  expect([ambiguous.code, ambiguous.message.includes("abc111111111"), ambiguous.message.includes("abc222222222")]).toEqual(["invalid_argument", true, true]);
  // "_" is an id character here, not a LIKE wildcard.
  expect(findBoxesByIdPrefix(db, "a_").map((box) => box.id)).toEqual(["a_c333333333"]);
  expect(findBoxesByIdPrefix(db, "")).toEqual([]);
});

test("a state update merges into the stored state, keeping fields it does not know", () => {
  insertBox(db, config("box1aaaaaaaa", null), { ...configured, future_state: { kept: true } });
  const next = updateBoxState(db, "box1aaaaaaaa", { status: "running", pid: 4242, last_updated: "2025-06-15T11:00:00Z" });
  expect(next).toEqual({ ...configured, future_state: { kept: true }, status: "running", pid: 4242, last_updated: "2025-06-15T11:00:00Z" });
  expect(getBox(db, "box1aaaaaaaa")?.state).toEqual(next);
  expect(db.query("SELECT status, pid FROM box_state").get()).toEqual({ status: "running", pid: 4242 });
  expect(errorOf(() => updateBoxState(db, "missing", { status: "stopped" })).code).toBe("not_found");
});

test("legacy statuses from older homes read as their v9 meaning", () => {
  const legacy: Record<string, string> = {
    starting: "configured",
    snapshotting: "stopped",
    restoring: "stopped",
    exporting: "stopped",
    cloning: "stopped",
    failed: "failed",
  };
  for (const [stored, meaning] of Object.entries(legacy)) {
    const id = `legacy-${stored}`;
    db.query("INSERT INTO box_config VALUES (?1, NULL, 0, ?2)").run(id, JSON.stringify(config(id, null)));
    db.query("INSERT INTO box_state VALUES (?1, ?2, NULL, ?3)").run(id, stored, JSON.stringify({ status: stored }));
    expect([stored, getBox(db, id)?.status]).toEqual([stored, meaning]);
  }
  expect(listBoxes(db, { statuses: ["stopped"] })).toHaveLength(4);
});

test("removing a box removes its state, snapshot rows and base references, nothing else", () => {
  insertBox(db, config("box1aaaaaaaa", null), configured);
  insertBox(db, config("box2bbbbbbbb", null), configured);
  for (const box of ["box1aaaaaaaa", "box2bbbbbbbb"]) {
    insertSnapshot(db, { id: `s-${box}`, box_id: box, name: "s", created_at: 1, base_path: "/p.qcow2", container_disk_bytes: 1, size_bytes: 1 });
    addBaseDiskRef(db, "Base0001", box);
  }
  expect(deleteBox(db, "box1aaaaaaaa")).toBe(true);
  expect(deleteBox(db, "box1aaaaaaaa")).toBe(false);
  expect(db.query("SELECT id FROM box_state").all()).toEqual([{ id: "box2bbbbbbbb" }]);
  expect(listSnapshots(db, "box1aaaaaaaa")).toEqual([]);
  expect(listSnapshots(db, "box2bbbbbbbb")).toHaveLength(1);
  expect(listBaseDiskDependents(db, "Base0001")).toEqual(["box2bbbbbbbb"]);
});

/** Every prefix of a valid blob, and every blob with one character replaced: never a crash, always the box named. */
test("a damaged JSON blob gives a clear error naming the box, never a crash", () => {
  const good = JSON.stringify(config("fuzzbox00001", "fuzz"));
  const mutations = new Set<string>();
  for (let i = 0; i < good.length; i++) {
    mutations.add(good.slice(0, i));
    for (const replacement of ['"', "{", "]", "0", ",", "\\"]) mutations.add(good.slice(0, i) + replacement + good.slice(i + 1));
  }
  mutations.add("null");
  mutations.add("[]");
  mutations.add('{"id":"fuzzbox00001","created_at":"x","options":[]}');
  let failures = 0;
  for (const blob of mutations) {
    db.run("DELETE FROM box_config");
    db.query("INSERT INTO box_config VALUES ('fuzzbox00001', NULL, 0, ?1)").run(blob);
    db.query("INSERT INTO box_state VALUES ('fuzzbox00001', 'stopped', NULL, ?1)").run(JSON.stringify({ status: "stopped" }));
    for (const read of [() => getBox(db, "fuzzbox00001"), () => listBoxes(db)]) {
      try {
        read();
      } catch (error) {
        failures++;
        expect(error).toBeInstanceOf(BoxliteError);
        expect((error as BoxliteError).code).toBe("database");
        expect((error as BoxliteError).message).toContain("box fuzzbox00001");
      }
    }
  }
  expect(failures).toBeGreaterThan(good.length);
});

test("a damaged state blob or an unknown status names the box too", () => {
  insertBox(db, config("box1aaaaaaaa", null), configured);
  for (const [column, json] of [
    ["running", "{oops"],
    ["weird", '{"status":"weird"}'],
    ["running", '{"status":"running","pid":"twelve"}'],
  ]) {
    db.query("UPDATE box_state SET status = ?1, json = ?2").run(column ?? "", json ?? "");
    const error = errorOf(() => getBox(db, "box1aaaaaaaa"));
    expect([error.code, error.message.includes("box box1aaaaaaaa: box_state.json")]).toEqual(["database", true]);
  }
});
