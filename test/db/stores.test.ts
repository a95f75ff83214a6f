/** base_disk, base_disk_ref, snapshot and image_index through their repositories. */
import { expect, test } from "bun:test";
import type { Database } from "bun:sqlite";
import {
  type BaseDisk,
  GLOBAL_SOURCE_BOX_ID,
  addBaseDiskRef,
  deleteBaseDisk,
  findBaseDiskByPath,
  getBaseDisk,
  insertBaseDisk,
  listBaseDiskDependents,
  listBaseDisks,
  mintBaseDiskId,
  removeBaseDiskRefs,
} from "../../src/db/bases.ts";
import { deleteImage, findImagesByManifest, getImage, listImages, putImage } from "../../src/db/images.ts";
import { deleteSnapshot, deleteSnapshotsOfBox, findSnapshot, insertSnapshot, listSnapshots, snapshotDiskPath } from "../../src/db/snapshots.ts";
import { BoxliteError } from "../../src/util/errors.ts";
import { eachTestDatabase } from "./load.ts";

let db: Database;
eachTestDatabase("boxlite-stores-", (fresh) => (db = fresh));

function base(id: string, sourceBoxId: string, kind: BaseDisk["kind"], createdAt: number, name: string | null = null): BaseDisk {
  return {
    id,
    source_box_id: sourceBoxId,
    name,
    kind,
    base_path: `/home/bases/${id}.qcow2`,
    container_disk_bytes: 10 * 2 ** 30,
    size_bytes: 512,
    created_at: createdAt,
  };
}

test("minted base ids are 8 base62 characters and do not repeat", () => {
  const ids = Array.from({ length: 2000 }, mintBaseDiskId);
  for (const id of ids) expect(id).toMatch(/^[0-9A-Za-z]{8}$/);
  expect(new Set(ids).size).toBe(ids.length);
  // Every character of the alphabet turns up: no bias that leaves some out.
  expect(new Set(ids.join("")).size).toBe(62);
});

test("base disks are stored as the reference's flattened BaseDisk and found by id, path, box and kind", () => {
  insertBaseDisk(db, base("Clone001", "boxA", "clone_base", 100));
  insertBaseDisk(db, base("Snap0001", "boxA", "snapshot", 200, "before"));
  insertBaseDisk(db, base("Rootfs01", GLOBAL_SOURCE_BOX_ID, "rootfs", 300));
  expect(getBaseDisk(db, "Clone001")).toEqual(base("Clone001", "boxA", "clone_base", 100));
  const stored = db.query<{ name: string; json: string }, []>("SELECT name, json FROM base_disk WHERE id = 'Snap0001'").get();
  expect([stored?.name, JSON.parse(stored?.json ?? "")]).toEqual(["before", base("Snap0001", "boxA", "snapshot", 200, "before")]);
  expect(findBaseDiskByPath(db, "/home/bases/Rootfs01.qcow2")?.id).toBe("Rootfs01");
  expect(listBaseDisks(db).map((d) => d.id)).toEqual(["Rootfs01", "Snap0001", "Clone001"]);
  expect(listBaseDisks(db, { sourceBoxId: "boxA" }).map((d) => d.id)).toEqual(["Snap0001", "Clone001"]);
  expect(listBaseDisks(db, { sourceBoxId: "boxA", kind: "clone_base" }).map((d) => d.id)).toEqual(["Clone001"]);
  const duplicate = (() => {
    try {
      insertBaseDisk(db, base("Snap0002", "boxA", "snapshot", 201, "before"));
    } catch (error) {
      return error;
    }
  })();
  expect(duplicate).toBeInstanceOf(BoxliteError);
  expect((duplicate as BoxliteError).code).toBe("conflict");
  expect(deleteBaseDisk(db, "Clone001")).toBe(true);
  expect(getBaseDisk(db, "Clone001")).toBeUndefined();
});

test("a base disk written with a nested disk_info reads the same as a flat one", () => {
  const nested = {
    id: "Nest0001",
    source_box_id: "b",
    kind: "clone_base",
    created_at: 5,
    disk_info: { base_path: "/p", container_disk_bytes: 7, size_bytes: 3 },
  };
  db.query("INSERT INTO base_disk VALUES ('Nest0001', 'b', NULL, 'clone_base', '/p', 5, ?1)").run(JSON.stringify(nested));
  expect(getBaseDisk(db, "Nest0001")).toEqual({
    id: "Nest0001",
    source_box_id: "b",
    kind: "clone_base",
    created_at: 5,
    base_path: "/p",
    container_disk_bytes: 7,
    size_bytes: 3,
  });
});

test("base references are idempotent, and removing a box's references returns the bases it held", () => {
  addBaseDiskRef(db, "Clone001", "box1");
  addBaseDiskRef(db, "Clone001", "box1");
  addBaseDiskRef(db, "Clone001", "box2");
  addBaseDiskRef(db, "Clone002", "box1");
  expect(listBaseDiskDependents(db, "Clone001")).toEqual(["box1", "box2"]);
  expect(removeBaseDiskRefs(db, "box1").sort()).toEqual(["Clone001", "Clone002"]);
  expect(listBaseDiskDependents(db, "Clone001")).toEqual(["box2"]);
  expect(listBaseDiskDependents(db, "Clone002")).toEqual([]);
});

test("snapshots are unique per box by name, listed newest first, and their disk path is found", () => {
  const snap = (id: string, box: string, name: string, at: number) => ({
    id,
    box_id: box,
    name,
    created_at: at,
    base_path: `/b/${box}/snapshots/${name}/disk.qcow2`,
    container_disk_bytes: 1 << 30,
    size_bytes: 9,
  });
  insertSnapshot(db, snap("s1", "box1", "a", 1000));
  insertSnapshot(db, snap("s2", "box1", "b", 1000));
  insertSnapshot(db, snap("s3", "box1", "c", 900));
  insertSnapshot(db, snap("s4", "box2", "a", 1000));
  expect(listSnapshots(db, "box1").map((s) => s.name)).toEqual(["b", "a", "c"]);
  expect(findSnapshot(db, "box2", "a")).toEqual(snap("s4", "box2", "a", 1000));
  expect(() => insertSnapshot(db, snap("s5", "box1", "a", 2000))).toThrow(/already has a snapshot named "a"/);
  expect(snapshotDiskPath(snap("s1", "box1", "a", 1))).toBe("/b/box1/snapshots/a/disk.qcow2");
  // Rows migrated from v6 name the snapshot directory.
  expect(snapshotDiskPath({ base_path: "/b/box1/snapshots/old", container_disk_bytes: 0, size_bytes: 0 })).toBe("/b/box1/snapshots/old/disk.qcow2");
  expect(deleteSnapshot(db, "s1")).toBe(true);
  expect(deleteSnapshotsOfBox(db, "box1")).toBe(2);
  expect(listSnapshots(db, "box2")).toHaveLength(1);
});

test("the image index upserts by reference and lists most recently cached first", () => {
  const entry = {
    reference: "alpine:latest",
    manifestDigest: "sha256:m1",
    configDigest: "sha256:c1",
    layers: ["sha256:l1", "sha256:l2"],
    cachedAt: "2026-01-21T10:00:00Z",
    complete: false,
  };
  putImage(db, entry);
  putImage(db, { ...entry, complete: true });
  putImage(db, { ...entry, reference: "alpine:3", cachedAt: "2026-01-21T12:00:00Z", complete: true });
  putImage(db, { ...entry, reference: "nginx", manifestDigest: "sha256:m2", cachedAt: "2026-01-21T08:00:00Z" });
  expect(getImage(db, "alpine:latest")).toEqual({ ...entry, complete: true });
  expect(db.query("SELECT layers, complete FROM image_index WHERE reference = 'alpine:latest'").get()).toEqual({
    layers: '["sha256:l1","sha256:l2"]',
    complete: 1,
  });
  expect(listImages(db).map((image) => image.reference)).toEqual(["alpine:3", "alpine:latest", "nginx"]);
  expect(findImagesByManifest(db, "sha256:m1").map((image) => image.reference)).toEqual(["alpine:3", "alpine:latest"]);
  expect([deleteImage(db, "nginx"), deleteImage(db, "nginx"), getImage(db, "nginx")]).toEqual([true, false, undefined]);
});

test("a damaged layers list names the image", () => {
  db.run("INSERT INTO image_index VALUES ('bad:1', 'm', 'c', '{broken', 'x', 1)");
  expect(() => getImage(db, "bad:1")).toThrow(/image_index row for bad:1/);
});
