import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { sha256Hex } from "./fs.ts";
import { sha256FileInThread } from "./hash-thread.ts";

const temps = new TempDirs();
afterAll(() => temps.removeAll());

test("sha256FileInThread hashes a file of several reads on its thread, as in-process hashing does", async () => {
  const path = join(temps.make("hash-"), "state");
  const bytes = new Uint8Array((3 << 20) + 12345).map((_, i) => (i * 7) & 255);
  writeFileSync(path, bytes);
  expect(await sha256FileInThread(path)).toBe(sha256Hex(bytes));
});

test("a file it cannot read fails with the reason, naming the file", async () => {
  const path = join(temps.make("hash-"), "missing");
  await expect(sha256FileInThread(path)).rejects.toThrow(`cannot hash ${path}: `);
});
