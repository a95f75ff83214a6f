import { afterAll, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { insertBoxUsingVolume } from "../../test/helpers/volumes.ts";
import { TempDirs } from "../../test/helpers/temp.ts";
import { loadConfig } from "../config/config.ts";
import { openHome } from "./home.ts";
import { createVolume, getVolume, listVolumes, namedVolumesDir, removeVolume, volumeDataDir, volumeInUse } from "./named-volumes.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const unused = { usedBy: () => [] };

test("a volume is a directory under the home with volume.json and data/, named after its id by default", async () => {
  const home = temp.make("boxlite-volumes-");
  const volume = await createVolume(home);
  expect(volume.id).toMatch(/^[0-9a-z]{26}$/);
  expect(volume.name).toBe(volume.id);
  expect(volume.updated_at).toBe(volume.created_at);
  const dir = join(namedVolumesDir(home), volume.id);
  expect(JSON.parse(readFileSync(join(dir, "volume.json"), "utf8"))).toEqual(volume);
  expect(existsSync(volumeDataDir(home, volume.id))).toBe(true);
  // Written through a temporary file and a rename: nothing else is left beside it.
  expect(readdirSync(dir).sort()).toEqual(["data", "volume.json"]);
});

test("volumes are listed newest first and found by id, name or unique id prefix", async () => {
  const home = temp.make("boxlite-volumes-");
  const first = await createVolume(home, { name: "first" });
  const second = await createVolume(home, { name: "second.v2" });
  expect(listVolumes(home).map((volume) => volume.name)).toEqual(["second.v2", "first"]);
  expect(getVolume(home, first.id)).toEqual(first);
  expect(getVolume(home, "second.v2")).toEqual(second);
  // Ids made in one millisecond share all but their last characters (monotonic ULIDs): the
  // shortest prefix that tells them apart names one, and one character less names both.
  let common = 0;
  while (first.id[common] === second.id[common]) common++;
  expect(getVolume(home, second.id.slice(0, common + 1))).toEqual(second);
  expect(() => getVolume(home, second.id.slice(0, common))).toThrow(/matches 2 volumes/);
  expect(() => getVolume(home, "third")).toThrow(/no such volume/);
  expect(() => getVolume(home, "")).toThrow(/no such volume/);
});

test("volumes made within one millisecond still list newest first (their ids are monotonic)", async () => {
  const home = temp.make("boxlite-volumes-");
  const made: string[] = [];
  for (let i = 0; i < 40; i++) made.push((await createVolume(home, { name: `v${i}` })).name);
  expect(listVolumes(home).map((volume) => volume.name)).toEqual(made.reverse());
});

test("a directory without volume.json (a create cut short) is not a volume", async () => {
  const home = temp.make("boxlite-volumes-");
  const volume = await createVolume(home, { name: "kept" });
  writeFileSync(join(namedVolumesDir(home), "stray"), "");
  await createVolume(home, { name: "torn" }).then((torn) => Bun.file(join(namedVolumesDir(home), torn.id, "volume.json")).delete());
  expect(listVolumes(home)).toEqual([volume]);
});

test("names follow docker's rule, up to 64 characters", async () => {
  const home = temp.make("boxlite-volumes-");
  for (const bad of ["a", "-data", ".data", "da/ta", "da ta", "x".repeat(65), ""]) {
    await expect(createVolume(home, { name: bad })).rejects.toMatchObject({ code: "invalid_argument" });
  }
  expect((await createVolume(home, { name: `A0_.-${"x".repeat(59)}` })).name).toHaveLength(64);
});

test("a taken name is already_exists, also when two creates race for it", async () => {
  const home = temp.make("boxlite-volumes-");
  await createVolume(home, { name: "taken" });
  await expect(createVolume(home, { name: "taken" })).rejects.toMatchObject({ code: "already_exists" });
  const results = await Promise.allSettled([createVolume(home, { name: "raced" }), createVolume(home, { name: "raced" })]);
  expect(results.map((result) => result.status).sort()).toEqual(["fulfilled", "rejected"]);
  expect(results.find((result) => result.status === "rejected")).toMatchObject({ reason: { code: "already_exists" } });
  expect(listVolumes(home).filter((volume) => volume.name === "raced")).toHaveLength(1);
});

test("removal deletes the volume and its data; a missing one is not_found unless forced", async () => {
  const home = temp.make("boxlite-volumes-");
  const volume = await createVolume(home, { name: "gone" });
  writeFileSync(join(volumeDataDir(home, volume.id), "file"), "data");
  expect(await removeVolume(home, "gone", unused)).toBe(volume.id);
  expect(existsSync(join(namedVolumesDir(home), volume.id))).toBe(false);
  await expect(removeVolume(home, "gone", unused)).rejects.toMatchObject({ code: "not_found" });
  expect(await removeVolume(home, "gone", { ...unused, force: true })).toBeUndefined();
});

test("a volume a box record mounts is in use: its removal is a conflict unless forced", async () => {
  const dir = temp.make("boxlite-volumes-home-");
  const home = await openHome(loadConfig({ home: dir }));
  try {
    const used = await createVolume(dir, { name: "used" });
    const free = await createVolume(dir, { name: "free" });
    insertBoxUsingVolume(home, "uses-volume", used.id);
    expect(volumeInUse(home, used.id)).toEqual(["uses-volume"]);
    expect(volumeInUse(home, free.id)).toEqual([]);
    const usedBy = (id: string) => volumeInUse(home, id);
    await expect(removeVolume(dir, "used", { usedBy })).rejects.toMatchObject({ code: "conflict", message: expect.stringContaining("uses-volume") });
    expect(getVolume(dir, "used")).toEqual(used);
    expect(await removeVolume(dir, "used", { usedBy, force: true })).toBe(used.id);
    expect(await removeVolume(dir, "free", { usedBy })).toBe(free.id);
  } finally {
    home.close();
  }
});
