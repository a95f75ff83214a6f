import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { waitFor } from "../../test/helpers/cli.ts";
import { cachedSha256, discardDirInBackground, sha256Hex } from "./fs.ts";

const temps = new TempDirs();
afterAll(() => temps.removeAll());

test("cachedSha256 keeps a file's hash beside it, and computes it again once the file is another", () => {
  const dir = temps.make("cached-sha-");
  const path = join(dir, "kernel.elf");
  writeFileSync(path, "one");
  expect(cachedSha256(path)).toBe(sha256Hex("one"));
  expect(readFileSync(`${path}.sha256`, "utf8")).toStartWith(`${sha256Hex("one")} `);
  // A forged sidecar for this very file is believed (that is the cache)...
  const stamp = readFileSync(`${path}.sha256`, "utf8").trim().split(" ")[1];
  writeFileSync(`${path}.sha256`, `${"a".repeat(64)} ${stamp}\n`);
  expect(cachedSha256(path)).toBe("a".repeat(64));
  // ...but not once the file was replaced (published anew under the same name).
  writeFileSync(join(dir, "new"), "two");
  renameSync(join(dir, "new"), path);
  expect(cachedSha256(path)).toBe(sha256Hex("two"));
});

test("discardDirInBackground: the directory is gone when it returns, and its renamed copy is removed after", async () => {
  const root = temps.make("discard-");
  const dir = join(root, "memory");
  mkdirSync(dir);
  writeFileSync(join(dir, "state"), new Uint8Array(8 << 20));
  discardDirInBackground(dir);
  expect(existsSync(dir)).toBe(false);
  await waitFor(() => readdirSync(root).length === 0, 5_000, "the renamed directory to be removed");
  // Nothing there: nothing happens.
  discardDirInBackground(dir);
  expect(readdirSync(root)).toEqual([]);
});
