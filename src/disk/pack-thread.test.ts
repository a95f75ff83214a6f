import { afterAll, describe, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { rejectionOf } from "../../test/helpers/errors.ts";
import { diskBytes, sha256 } from "./archive-fixture.test-helper.ts";

// qcow2.ts imports the library as a file: build it first (make does nothing when it is up to date).
const build = Bun.spawnSync(["make", "-C", join(import.meta.dir, "../../ffi/qcow2")]);
if (build.exitCode !== 0) throw new Error(`make -C ffi/qcow2 failed:\n${build.stderr.toString()}`);
const { packInto } = await import("./pack-thread.ts");
const { createOverlay, flattenedSize } = await import("./qcow2.ts");

const temps = new TempDirs();
const dir = temps.make("boxlite-pack-thread-");
afterAll(() => temps.removeAll());

/** `prefix`, then what packInto appends; returns the checksum and the decompressed frame (by the zstd command, the oracle). */
async function packed(name: string, source: Parameters<typeof packInto>[0], prefix: Uint8Array): Promise<{ checksum: string; content: Uint8Array }> {
  const out = join(dir, name);
  const fd = openSync(out, "wx");
  let checksum: string;
  try {
    writeSync(fd, prefix);
    checksum = await packInto(source, fd);
  } finally {
    closeSync(fd);
  }
  const whole = readFileSync(out);
  expect(whole.subarray(0, prefix.length).equals(prefix)).toBe(true);
  writeFileSync(`${out}.zst`, whole.subarray(prefix.length));
  const decompressed = Bun.spawnSync(["zstd", "-q", "-d", "-c", `${out}.zst`]);
  expect(decompressed.stderr.toString()).toBe("");
  expect(decompressed.exitCode).toBe(0);
  return { checksum, content: new Uint8Array(decompressed.stdout) };
}

describe("packInto", () => {
  test("a file: one zstd frame of its bytes after what the descriptor held, and their checksum", async () => {
    const bytes = diskBytes(9 * 1024 * 1024 + 7); // more than the C side's 4 MiB reads, and uneven
    const file = join(dir, "memory.state");
    writeFileSync(file, bytes);
    const { checksum, content } = await packed("file.out", { file, size: bytes.length }, Uint8Array.of(1, 2, 3));
    expect(Buffer.from(content).equals(Buffer.from(bytes))).toBe(true);
    expect(checksum).toBe(sha256(bytes));
  });

  test("an empty file is an empty frame", async () => {
    const file = join(dir, "empty");
    writeFileSync(file, "");
    const { checksum, content } = await packed("empty.out", { file, size: 0 }, new Uint8Array(0));
    expect(content.length).toBe(0);
    expect(checksum).toBe(sha256(new Uint8Array(0)));
  });

  test("a chain: its flattened image, which qemu-img reads as the chain, and its checksum", async () => {
    const base = join(dir, "base.raw");
    writeFileSync(base, diskBytes(5 * 1024 * 1024 + 512));
    const top = join(dir, "top.qcow2");
    createOverlay({ path: top, backingFile: "base.raw", backingFormat: "raw" });
    const size = flattenedSize(top);
    const { checksum, content } = await packed("chain.out", { chain: top, size }, new Uint8Array(512));
    expect(content.length).toBe(size);
    expect(checksum).toBe(sha256(content));
    const image = join(dir, "flat.qcow2");
    writeFileSync(image, content);
    const compare = Bun.spawnSync(["qemu-img", "compare", "-q", top, image]);
    expect(compare.stderr.toString()).toBe("");
    expect(compare.exitCode).toBe(0);
  });

  for (const [what, delta] of [
    ["shrank", 1],
    ["grew", -1],
  ] as const) {
    test(`a file that ${what} since its size was taken is refused`, async () => {
      const file = join(dir, `${what}.state`);
      writeFileSync(file, diskBytes(100_000));
      const fd = openSync(join(dir, `${what}.out`), "wx");
      try {
        const error = await rejectionOf(packInto({ file, size: 100_000 + delta }, fd));
        expect(error.code).toBe("disk");
        expect(error.message).toContain("changed size");
      } finally {
        closeSync(fd);
      }
    });
  }

  test("a chain whose plan is not the size given is refused before a byte is written", async () => {
    const top = join(dir, "top.qcow2");
    const out = join(dir, "stale.out");
    const fd = openSync(out, "wx");
    try {
      const error = await rejectionOf(packInto({ chain: top, size: flattenedSize(top) + 65536 }, fd));
      expect(error.code).toBe("disk");
      expect(error.message).toContain("ESTALE");
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(out).length).toBe(0);
  });

  test("a full disk is a disk error that says so", async () => {
    const file = join(dir, "full.state");
    writeFileSync(file, diskBytes(3 * 1024 * 1024));
    const fd = openSync("/dev/full", "w");
    try {
      const error = await rejectionOf(packInto({ file, size: 3 * 1024 * 1024 }, fd));
      expect(error.code).toBe("disk");
      expect(error.message).toContain("ENOSPC");
      expect(error.message).toContain("free space");
    } finally {
      closeSync(fd);
    }
  });

  test("a missing file or chain is not_found", async () => {
    const fd = openSync(join(dir, "missing.out"), "wx");
    try {
      expect((await rejectionOf(packInto({ file: join(dir, "nope"), size: 1 }, fd))).code).toBe("not_found");
      expect((await rejectionOf(packInto({ chain: join(dir, "nope.qcow2"), size: 65536 }, fd))).code).toBe("not_found");
    } finally {
      closeSync(fd);
    }
  });
});
