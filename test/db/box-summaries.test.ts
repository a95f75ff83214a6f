import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { listBoxSummaries } from "../../src/db/box-summaries.ts";
import { insertBox } from "../../src/db/boxes.ts";
import { openDatabase } from "../../src/db/database.ts";

const root = mkdtempSync(join(tmpdir(), "boxlite-summaries-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const { db } = openDatabase({ home: root });

function add(id: string, status: "running" | "stopped", createdAt: string, options: Record<string, unknown>) {
  insertBox(db, { id, name: null, created_at: createdAt, options: options as never }, { status, pid: status === "running" ? 42 : null, exit_code: status === "stopped" ? 3 : null });
}

add("old_stopped", "stopped", "2026-01-01T00:00:00Z", { rootfs: { RootfsPath: "/srv/rootfs" }, cpus: 4 });
add("new_running", "running", "2026-02-01T00:00:00Z", { rootfs: { Image: "alpine:latest" }, memory_mib: 2048, unknown: [1, 2] });

test("summaries read both rootfs shapes, newest first, with defaults left to the caller", () => {
  expect(listBoxSummaries(db).map((box) => [box.id, box.image, box.status, box.pid, box.cpus, box.memoryMib, box.exitCode])).toEqual([
    ["new_running", "alpine:latest", "running", 42, null, 2048, null],
    ["old_stopped", "/srv/rootfs", "stopped", null, 4, null, 3],
  ]);
});

test("activeOnly keeps only boxes with a VM", () => {
  expect(listBoxSummaries(db, { activeOnly: true }).map((box) => box.id)).toEqual(["new_running"]);
});

test("a damaged blob is an error naming the box, not a crash", () => {
  db.run("UPDATE box_config SET json = '{not json' WHERE id = 'old_stopped'");
  expect(() => listBoxSummaries(db)).toThrow(/box old_stopped: box_config.json is unreadable/);
  expect(listBoxSummaries(db, { activeOnly: true })).toHaveLength(1);
});
