import { afterAll, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../../test/helpers/temp.ts";
import { sha256Hex } from "../../util/fs.ts";
import { openLibkrunfw } from "./libkrunfw.ts";
import { locateLibkrunfw } from "./libkrunfw-source.ts";

const temp = new TempDirs();
afterAll(() => temp.removeAll());

test("without BOXLITE_LIBKRUNFW the embedded copy is extracted once to the runtime directory, named by its checksum", async () => {
  const runtimeDir = temp.make("runtime-");
  const source = await locateLibkrunfw({ runtimeDir });
  expect(source.origin).toBe("embedded");
  const name = /^libkrunfw-([0-9a-f]{12})\.so\.5$/.exec(source.path.slice(join(runtimeDir, "lib").length + 1));
  expect(source.path.startsWith(join(runtimeDir, "lib"))).toBe(true);
  expect(sha256Hex(readFileSync(source.path)).slice(0, 12)).toBe(name?.[1] ?? "no checksum in the name");
  const lib = openLibkrunfw(source);
  expect(lib.version).toBe(5);
  lib.close();

  const first = statSync(source.path);
  expect(await locateLibkrunfw({ runtimeDir })).toEqual(source);
  const second = statSync(source.path);
  expect({ ino: second.ino, mtimeMs: second.mtimeMs }).toEqual({ ino: first.ino, mtimeMs: first.mtimeMs });
});

test("BOXLITE_LIBKRUNFW is taken as given, and nothing is extracted", async () => {
  const runtimeDir = temp.make("runtime-");
  expect(await locateLibkrunfw({ runtimeDir, libkrunfw: "/opt/krun/libkrunfw.so.5" })).toEqual({
    path: "/opt/krun/libkrunfw.so.5",
    origin: "BOXLITE_LIBKRUNFW",
  });
  expect(existsSync(join(runtimeDir, "lib"))).toBe(false);
});
