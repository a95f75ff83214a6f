/**
 * The reference's published Node SDK (npm `@boxlite-ai/boxlite`, 0.9.7 and 0.10) in REST
 * mode against this server, for snapshots: it refuses them unless GET /v1/config
 * advertises them, then sends `{"name"}` and reads the contract's Snapshot. Boxes are
 * created, not booted. Clone, export and import run once the runtime has them.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, statSync } from "node:fs";
import { join } from "node:path";
import * as sdk097 from "boxlite-sdk-0.9.7";
import * as sdk010 from "boxlite-sdk-0.10";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { hasPortability } from "../helpers/portability.ts";
import { startApi } from "../helpers/api.ts";
import { TempDirs } from "../helpers/temp.ts";

const runtime = Boxlite.open();
const api = startApi(runtime);
const url = api.httpBase.replace(/\/v1$/, "");
const temp = new TempDirs();

afterAll(async () => {
  await api.close();
  temp.removeAll();
});

const portable = await hasPortability(runtime);

type Sdk = typeof sdk010;
const VERSIONS: Array<[string, Sdk]> = [
  ["0.9.7", sdk097 as unknown as Sdk],
  ["0.10", sdk010],
];

for (const [version, sdk] of VERSIONS) {
  describe(`the published SDK ${version} in REST mode`, () => {
    const name = `sdk-snap-${version.replaceAll(".", "")}`;
    const rt = () => sdk.JsBoxlite.rest(new sdk.BoxliteRestOptions({ url }));

    test("creates, lists, gets, restores and removes snapshots of a box", async () => {
      const box = await rt().create({ image: "boxlite/default:latest" }, name);
      const made = await box.snapshot.create("s1");
      expect(made).toMatchObject({ boxId: box.id, name: "s1" });
      expect(made.id.length).toBeGreaterThan(0);
      expect(made.createdAt).toBeGreaterThan(1_700_000_000);
      expect(made.containerDiskBytes).toBeGreaterThan(0);
      expect(made.sizeBytes).toBeGreaterThan(0);
      await box.snapshot.create("s2");
      expect((await box.snapshot.list()).map((item) => item.name)).toEqual(["s2", "s1"]);
      expect(await box.snapshot.get("s1")).toMatchObject({ id: made.id, name: "s1" });
      // s2 was forked from the disk on s1: the server refuses, and the SDK says so.
      await expect(box.snapshot.remove("s1")).rejects.toThrow(/still needed/);
      await box.snapshot.restore("s1");
      await box.snapshot.remove("s2");
      expect((await box.snapshot.list()).map((item) => item.name)).toEqual(["s1"]);
      // A 404 is "no such snapshot" to the SDK.
      expect(await box.snapshot.get("s2")).toBeNull();
      // What the SDK did, the runtime sees.
      expect((await runtime.listSnapshots(name)).map((item) => item.name)).toEqual(["s1"]);
    });

    test.skipIf(!portable)("clones, exports and imports a box", async () => {
      const source = `${name}-src`;
      const box = await rt().create({ image: "boxlite/default:latest" }, source);
      const clone = await box.cloneBox(null, `${source}-clone`);
      expect(clone.name).toBe(`${source}-clone`);
      const dir = temp.make("boxlite-sdk-export-");
      const path = await box.export(dir);
      expect(existsSync(path)).toBe(true);
      expect(statSync(path).size).toBeGreaterThan(0);
      const imported = await rt().importBox(path.startsWith("/") ? path : join(dir, path), `${source}-imported`);
      expect(imported.name).toBe(`${source}-imported`);
      expect((await runtime.getBox(`${source}-imported`)).box_id).toBe(imported.id);
    });
  });
}
