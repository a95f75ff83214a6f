import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { errorOf } from "../../test/helpers/errors.ts";

// qcow2.ts imports the library as a file: build it first (make does nothing when it is up to date).
const build = Bun.spawnSync(["make", "-C", join(import.meta.dir, "../../ffi/qcow2")]);
if (build.exitCode !== 0) throw new Error(`make -C ffi/qcow2 failed:\n${build.stderr.toString()}`);
const { flattenThrough } = await import("./flatten-thread.ts");
const { createOverlay } = await import("./qcow2.ts");

const temps = new TempDirs();
const dir = temps.make("boxlite-flatten-thread-");
afterAll(() => temps.removeAll());

describe("flattenThrough", () => {
  test("streams the whole image, its size known first, as the worker writes it", async () => {
    const base = join(dir, "base.raw");
    const bytes = new Uint8Array(5 * 1024 * 1024 + 512);
    for (let i = 0; i < bytes.length; i += 4096) bytes[i] = (i / 4096) % 251;
    writeFileSync(base, bytes);
    const top = join(dir, "top.qcow2");
    createOverlay({ path: top, backingFile: "base.raw", backingFormat: "raw" });
    const scratch = join(dir, "flat.qcow2");
    const flat = flattenThrough(top, scratch);
    const chunks: Uint8Array[] = [];
    for await (const chunk of flat.chunks) chunks.push(chunk);
    await flat.written;
    const streamed = Buffer.concat(chunks);
    expect(streamed.length).toBe(flat.size);
    expect(streamed.equals(readFileSync(scratch))).toBe(true);
    if (Bun.which("qemu-img") === null) return;
    const compare = Bun.spawnSync(["qemu-img", "compare", "-q", top, scratch]);
    expect(compare.exitCode).toBe(0);
  });

  test("a chain that cannot be read throws before any thread or file is made", () => {
    const scratch = join(dir, "none.qcow2");
    expect(errorOf(() => flattenThrough(join(dir, "missing.qcow2"), scratch)).code).toBe("not_found");
    expect(existsSync(scratch)).toBe(false);
  });
});
