import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { errorOf } from "../../test/helpers/errors.ts";
import { TempDirs } from "../../test/helpers/temp.ts";

// chain.ts loads libqcow2 through qcow2.ts, which imports the built library as a file.
const build = Bun.spawnSync(["make", "-C", join(import.meta.dir, "../../ffi/qcow2")]);
if (build.exitCode !== 0) throw new Error(`make -C ffi/qcow2 failed:\n${build.stderr.toString()}`);
const { classifyChainError, isBackingDependency, MAX_CHAIN_DEPTH, readBackingChain } = await import("./chain.ts");
const { createOverlay, setBackingFile } = await import("./qcow2.ts");

const MiB = 1024 * 1024;
const temps = new TempDirs();
let dir = "";
beforeEach(() => {
  dir = temps.make("boxlite-chain-");
});
afterAll(() => temps.removeAll());

function run(argv: string[]): void {
  const result = Bun.spawnSync(argv, { cwd: dir });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
}

/** dir/b/base.raw <- dir/b/mid.qcow2 (relative name) <- dir/a/top.qcow2 ("../b/mid.qcow2"). */
function makeThreeLevels(): { top: string; mid: string; base: string } {
  mkdirSync(join(dir, "a"));
  mkdirSync(join(dir, "b"));
  const base = join(dir, "b/base.raw");
  writeFileSync(base, new Uint8Array(MiB));
  createOverlay({ path: join(dir, "b/mid.qcow2"), backingFile: "base.raw", backingFormat: "raw", virtualSize: 2 * MiB });
  createOverlay({ path: join(dir, "a/top.qcow2"), backingFile: "../b/mid.qcow2", backingFormat: "qcow2" });
  return { top: join(dir, "a/top.qcow2"), mid: join(dir, "b/mid.qcow2"), base };
}

describe("readBackingChain", () => {
  test("lists the images from the top down with absolute paths, formats and sizes", () => {
    const { top, mid, base } = makeThreeLevels();
    expect(readBackingChain(top)).toEqual([
      { path: top, format: "qcow2", virtualSize: 2 * MiB },
      { path: mid, format: "qcow2", virtualSize: 2 * MiB },
      { path: base, format: "raw", virtualSize: MiB },
    ]);
  });

  test("probes a backing file whose format is not recorded, as qemu does", () => {
    writeFileSync(join(dir, "base.raw"), new Uint8Array(MiB));
    run(["qemu-img", "create", "-q", "-f", "qcow2", "mid.qcow2", "1M"]);
    createOverlay({ path: join(dir, "top.qcow2"), backingFile: "mid.qcow2", backingFormat: "qcow2" });
    createOverlay({ path: join(dir, "other.qcow2"), backingFile: "base.raw", backingFormat: "raw" });
    // qemu-img no longer makes such images: rename the backing-format extension (at 112,
    // right after the v3 header) to a type nobody knows.
    for (const name of ["top.qcow2", "other.qcow2"]) {
      const fd = openSync(join(dir, name), "r+");
      writeSync(fd, new Uint8Array([0x12, 0x34, 0x56, 0x78]), 0, 4, 112);
      closeSync(fd);
    }
    expect(readBackingChain(join(dir, "top.qcow2")).map((image) => image.format)).toEqual(["qcow2", "qcow2"]);
    expect(readBackingChain(join(dir, "other.qcow2")).map((image) => image.format)).toEqual(["qcow2", "raw"]);
  });

  test("reports a loop as a corrupt chain instead of following it", () => {
    const { top, mid } = makeThreeLevels();
    setBackingFile(mid, "../a/top.qcow2", "qcow2");
    const error = errorOf(() => readBackingChain(top));
    expect(error.code).toBe("disk");
    expect(error.message).toContain(`loops back to ${top}`);
    expect(classifyChainError(error)).toBe("corrupt");
  });

  test("stops at the depth limit", () => {
    writeFileSync(join(dir, "base.raw"), new Uint8Array(MiB));
    let below = "base.raw";
    for (let i = 0; i <= MAX_CHAIN_DEPTH; i++) {
      createOverlay({ path: join(dir, `l${i}.qcow2`), backingFile: below, backingFormat: i === 0 ? "raw" : "qcow2" });
      below = `l${i}.qcow2`;
    }
    // l62 and 62 below it, then the raw base: 64 images in all.
    expect(readBackingChain(join(dir, `l${MAX_CHAIN_DEPTH - 2}.qcow2`))).toHaveLength(MAX_CHAIN_DEPTH);
    const error = errorOf(() => readBackingChain(join(dir, below)));
    expect(error.message).toContain(`deeper than ${MAX_CHAIN_DEPTH}`);
    expect(classifyChainError(error)).toBe("corrupt");
  });

  test("tells a missing file from a corrupt one", () => {
    const { top, mid, base } = makeThreeLevels();
    rmSync(base);
    const missing = errorOf(() => readBackingChain(top));
    expect(missing.code).toBe("not_found");
    expect(missing.message).toContain(base);
    expect(classifyChainError(missing)).toBe("missing");
    truncateSync(mid, 100);
    const corrupt = errorOf(() => readBackingChain(top));
    expect(corrupt.code).toBe("disk");
    expect(classifyChainError(corrupt)).toBe("corrupt");
    expect(classifyChainError(new Error("other"))).toBeUndefined();
  });
});

describe("isBackingDependency", () => {
  test("finds a file anywhere below the image, by identity rather than by name", () => {
    const { top, mid, base } = makeThreeLevels();
    symlinkSync(base, join(dir, "alias.raw"));
    expect(isBackingDependency(top, mid)).toBe(true);
    expect(isBackingDependency(top, base)).toBe(true);
    expect(isBackingDependency(top, join(dir, "alias.raw"))).toBe(true);
    expect(isBackingDependency(top, join(dir, "a/../b/mid.qcow2"))).toBe(true);
  });

  test("is false for the image itself, an unrelated file, an image above, and a missing file", () => {
    const { top, mid } = makeThreeLevels();
    writeFileSync(join(dir, "other.raw"), new Uint8Array(10));
    expect(isBackingDependency(top, top)).toBe(false);
    expect(isBackingDependency(top, join(dir, "other.raw"))).toBe(false);
    expect(isBackingDependency(mid, top)).toBe(false);
    expect(isBackingDependency(top, join(dir, "gone.qcow2"))).toBe(false);
  });
});
