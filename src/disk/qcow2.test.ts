import { afterAll, beforeEach, describe, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ErrorCode } from "../util/errors.ts";
import { errorOf } from "../../test/helpers/errors.ts";

// qcow2.ts imports the library as a file, so it has to be built before that import
// resolves (make does nothing when it is up to date).
const build = Bun.spawnSync(["make", "-C", join(import.meta.dir, "../../ffi/qcow2")]);
if (build.exitCode !== 0) throw new Error(`make -C ffi/qcow2 failed:\n${build.stderr.toString()}`);
const { createOverlay, flatten, flattenCompressed, flattenedSize, readQcow2Info, setBackingFile } = await import("./qcow2.ts");

const MiB = 1024 * 1024;
const root = mkdtempSync(join(tmpdir(), "boxlite-qcow2-"));
let dir = "";
let counter = 0;

beforeEach(() => {
  dir = join(root, String(counter++));
  mkdirSync(dir);
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function run(argv: string[]): string {
  const result = Bun.spawnSync(argv, { cwd: dir });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
  return result.stdout.toString();
}

interface QemuImgInfo {
  "virtual-size": number;
  "cluster-size": number;
  "backing-filename"?: string;
  "backing-filename-format"?: string;
  "format-specific": { data: { compat: string } };
}

function qemuImgInfo(path: string): QemuImgInfo {
  return JSON.parse(run(["qemu-img", "info", "--output=json", path])) as QemuImgInfo;
}

/** qemu-img check exits 0 only with no errors and no leaks. */
function expectCheckClean(path: string): void {
  const result = Bun.spawnSync(["qemu-img", "check", path]);
  expect(`${result.stdout}${result.stderr}`).toContain("No errors were found");
  expect(result.exitCode).toBe(0);
}

function makeRaw(name: string, size: number, fill = 0x11): string {
  const path = join(dir, name);
  writeFileSync(path, new Uint8Array(size).fill(fill));
  return path;
}

function expectError(action: () => unknown, code: ErrorCode, ...parts: string[]): void {
  const error = errorOf(action);
  expect(error.code).toBe(code);
  for (const part of parts) expect(error.message).toContain(part);
}

describe("createOverlay", () => {
  test("makes an overlay on a raw file that qemu-img sees with its size, backing and format", () => {
    makeRaw("base.raw", 3 * MiB);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw" });
    const info = qemuImgInfo(overlay);
    expect(info["virtual-size"]).toBe(3 * MiB);
    expect(info["backing-filename"]).toBe("base.raw");
    expect(info["backing-filename-format"]).toBe("raw");
    expect(info["format-specific"].data.compat).toBe("1.1");
    expectCheckClean(overlay);
  });

  test("inherits the virtual size of a qcow2 base", () => {
    run(["qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", "5M"]);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: join(dir, "base.qcow2"), backingFormat: "qcow2" });
    const info = qemuImgInfo(overlay);
    expect(info["virtual-size"]).toBe(5 * MiB);
    expect(info["backing-filename-format"]).toBe("qcow2");
    expectCheckClean(overlay);
  });

  test("makes an overlay larger than its base when asked", () => {
    makeRaw("base.raw", MiB);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw", virtualSize: 3 * 1024 * MiB });
    expect(qemuImgInfo(overlay)["virtual-size"]).toBe(3 * 1024 * MiB);
    expectCheckClean(overlay);
  });

  test.skipIf(Bun.which("qemu-io") === null)("keeps a write in the overlay and leaves the base unchanged", () => {
    const base = makeRaw("base.raw", MiB);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw" });
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0xab 0 64k", overlay]);
    // qemu-io exits 1 when a pattern does not match, which run() turns into a throw.
    const read = run(["qemu-io", "-f", "qcow2", "-c", "read -P 0xab 0 64k", "-c", "read -P 0x11 64k 64k", overlay]);
    expect(read).toContain("read 65536/65536 bytes at offset 65536");
    expect(readFileSync(base).equals(Buffer.alloc(MiB, 0x11))).toBe(true);
    expectCheckClean(overlay);
  });
});

describe("readQcow2Info", () => {
  const cases = [
    { name: "a v3 image", args: [] as string[], version: 3, backing: false },
    { name: "a v2 image", args: ["-o", "compat=0.10"], version: 2, backing: false },
    { name: "a v3 overlay", args: ["-b", "base.raw", "-F", "raw"], version: 3, backing: true },
    { name: "a v2 overlay", args: ["-o", "compat=0.10", "-b", "base.raw", "-F", "raw"], version: 2, backing: true },
  ];
  for (const c of cases) {
    test(`matches qemu-img for ${c.name} made by qemu-img create`, () => {
      makeRaw("base.raw", 2 * MiB);
      const path = join(dir, "image.qcow2");
      run(["qemu-img", "create", "-q", "-f", "qcow2", ...c.args, path, ...(c.backing ? [] : ["7M"])]);
      const expected = qemuImgInfo(path);
      const info = readQcow2Info(path);
      expect(info.version).toBe(c.version);
      expect(info.clusterSize).toBe(expected["cluster-size"]);
      expect(info.virtualSize).toBe(expected["virtual-size"]);
      expect(info.incompatibleFeatures).toBe(0n);
      expect(info.backingFile).toBe(expected["backing-filename"]);
      expect(info.backingFormat).toBe(expected["backing-filename-format"]);
      expect(info.virtualSize).toBe(c.backing ? 2 * MiB : 7 * MiB);
    });
  }
});

describe("setBackingFile", () => {
  test("rewrites the backing path and format so qemu-img sees the new ones", () => {
    makeRaw("base.raw", MiB);
    run(["qemu-img", "create", "-q", "-f", "qcow2", "moved-base.qcow2", "1M"]);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw" });
    setBackingFile(overlay, join(dir, "moved-base.qcow2"), "qcow2");
    const info = qemuImgInfo(overlay);
    expect(info["backing-filename"]).toBe(join(dir, "moved-base.qcow2"));
    expect(info["backing-filename-format"]).toBe("qcow2");
    expect(readQcow2Info(overlay).backingFile).toBe(join(dir, "moved-base.qcow2"));
    expectCheckClean(overlay);
  });

  test("rewrites the backing path of a v2 image made by qemu-img", () => {
    makeRaw("base.raw", MiB);
    makeRaw("other.raw", MiB);
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "compat=0.10", "-b", "base.raw", "-F", "raw", "v2.qcow2"]);
    setBackingFile(join(dir, "v2.qcow2"), "other.raw", "raw");
    const info = qemuImgInfo(join(dir, "v2.qcow2"));
    expect(info["backing-filename"]).toBe("other.raw");
    expect(info["format-specific"].data.compat).toBe("0.10");
    expectCheckClean(join(dir, "v2.qcow2"));
  });

  test("refuses a name longer than 1023 bytes and leaves the file byte-identical", () => {
    makeRaw("base.raw", MiB);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw" });
    const before = readFileSync(overlay);
    expectError(() => setBackingFile(overlay, "x".repeat(1024), "raw"), "invalid_argument", overlay, "ENAMETOOLONG");
    expect(readFileSync(overlay).equals(before)).toBe(true);
  });

  test("refuses a name that does not fit in a small first cluster and leaves the file byte-identical", () => {
    const image = join(dir, "small.qcow2");
    const options = ["-o", "cluster_size=512", "-u", "-b", "b.raw", "-F", "raw"];
    run(["qemu-img", "create", "-q", "-f", "qcow2", ...options, image, "1M"]);
    const before = readFileSync(image);
    expectError(() => setBackingFile(image, "x".repeat(400), "raw"), "invalid_argument", image, "ENOSPC");
    expect(readFileSync(image).equals(before)).toBe(true);
  });
});

/** A level of a chain made by qemu-img: its own cluster size and version, and qemu-io commands. */
interface Level {
  cluster?: string;
  v2?: boolean;
  size?: string;
  io: string[];
}

/** base.raw (`rawSize` bytes of 0x11 where given) under qcow2 levels l0 (lowest) … l(n-1) (top). */
function makeChain(levels: Level[], rawSize = 4 * MiB): string {
  const base = makeRaw("base.raw", rawSize);
  let below = "base.raw";
  let format = "raw";
  for (const [i, level] of levels.entries()) {
    const name = `l${i}.qcow2`;
    const options = [`cluster_size=${level.cluster ?? "64k"}`, ...(level.v2 ? ["compat=0.10"] : [])].join(",");
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", options, "-b", below, "-F", format, name, ...(level.size ? [level.size] : [])]);
    if (level.io.length > 0) run(["qemu-io", "-f", "qcow2", ...level.io.flatMap((c) => ["-c", c]), name]);
    below = name;
    format = "qcow2";
  }
  return levels.length === 0 ? base : join(dir, below);
}

/** Hold a flattened image to qemu-img: clean, standalone, the contents of `top`. */
function expectSameDisk(top: string, out: string): void {
  expectCheckClean(out);
  const info = qemuImgInfo(out);
  expect(info["backing-filename"]).toBeUndefined();
  expect(info["cluster-size"]).toBe(65536);
  expect(info["virtual-size"]).toBe(qemuImgInfo(top)["virtual-size"]);
  const compare = Bun.spawnSync(["qemu-img", "compare", "-q", top, out]);
  expect(compare.stderr.toString()).toBe("");
  expect(compare.exitCode).toBe(0);
}

const ZSTD = { level: 3, workers: 2 };

/** Flatten `top` compressed into a descriptor, as an export does, and decompress it into `out` with the zstd command. */
function streamFlatten(top: string, out: string): void {
  const size = flattenedSize(top);
  const fd = openSync(`${out}.zst`, "wx");
  let checksum: string;
  try {
    checksum = flattenCompressed(top, fd, size, ZSTD);
  } finally {
    closeSync(fd);
  }
  run(["zstd", "-q", "-d", "--rm", "-o", out, `${out}.zst`]);
  expect(Bun.file(out).size).toBe(size);
  expect(checksum).toBe(`sha256:${new Bun.CryptoHasher("sha256").update(readFileSync(out)).digest("hex")}`);
}

/** Flatten `top` both ways (into a file, and compressed as an export does) and hold both results to qemu-img. */
function expectFlattened(top: string): string {
  const out = join(dir, "flat.qcow2");
  flatten(top, out);
  expectSameDisk(top, out);
  const streamed = join(dir, "streamed.qcow2");
  streamFlatten(top, streamed);
  expectSameDisk(top, streamed);
  return out;
}

/** Bytes of guest data qemu maps in `image` (its own layer only for a standalone one). */
function mappedDataBytes(image: string): number {
  const map = JSON.parse(run(["qemu-img", "map", "--output=json", image])) as { length: number; data: boolean }[];
  return map.filter((extent) => extent.data).reduce((sum, extent) => sum + extent.length, 0);
}

describe.skipIf(Bun.which("qemu-io") === null)("flatten", () => {
  test("copies a single image with data and zeros, and qemu-img sees the same disk", () => {
    run(["qemu-img", "create", "-q", "-f", "qcow2", "one.qcow2", "64M"]);
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 1M 3M", "-c", "write -z 2M 64k", "-c", "write -P 0x5a 63M 100k", "one.qcow2"]);
    const out = expectFlattened(join(dir, "one.qcow2"));
    expect(mappedDataBytes(out)).toBe(3 * MiB - 64 * 1024 + 128 * 1024);
  });

  test("merges an overlay into its raw base, zero writes hiding base data", () => {
    const top = makeChain([{ io: ["write -P 0x5a 0 1M", "write -z 2M 1M", "write -P 0x5a 3M 4k"] }]);
    const out = expectFlattened(top);
    // 0x11 everywhere but the zeroed MiB: 3 MiB of data.
    expect(mappedDataBytes(out)).toBe(3 * MiB);
  });

  test("merges 10 levels of mixed cluster sizes and versions over a raw base", () => {
    const clusters = ["4k", "2M", "512", "64k", "1M", "4k", "32k", "2M", "8k", "64k"];
    const levels = clusters.map((cluster, i) => ({
      cluster,
      v2: i % 3 === 1,
      size: i === 4 ? "12M" : undefined, // grows past the lower levels from here up
      io: [
        `write -P 0x${(0x20 + i).toString(16)} ${i * 300}k ${100 + i * 7}k`,
        ...(i % 3 !== 1 ? [`write -z ${i * 400 + 50}k 64k`] : []),
        ...(i >= 4 ? [`write -P 0x5a ${9 * 1024 + i * 100}k 33k`] : []),
      ],
    }));
    expectFlattened(makeChain(levels));
  });

  test("resolves relative backing names against the directory of the image naming them", () => {
    mkdirSync(join(dir, "a"));
    mkdirSync(join(dir, "b"));
    makeRaw("b/base.raw", MiB);
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "b/mid.qcow2"]);
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "../b/mid.qcow2", "-F", "qcow2", "a/top.qcow2"]);
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 64k 64k", "a/top.qcow2"]);
    expectFlattened(join(dir, "a/top.qcow2"));
  });

  test("writes only the clusters that hold data: the result is sparse", () => {
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "big.qcow2", "1G"]);
    const io = ["write -P 0x5a 100M 512k", "write -P 0x5a 700M 512k", "write -z 0 64M", "write -P 0 900M 1M"];
    run(["qemu-io", "-f", "qcow2", ...io.flatMap((c) => ["-c", c]), "big.qcow2"]);
    const out = expectFlattened(join(dir, "big.qcow2"));
    expect(mappedDataBytes(out)).toBe(MiB);
    // header, L1, 2 L2 tables, refcounts: a few clusters beyond the data.
    expect(Bun.file(out).size).toBeLessThan(MiB + 8 * 65536);
  });

  test("front to back, keeps the clusters the chain allocates, zeros included, and no others", () => {
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=4k", "big.qcow2", "1G"]);
    const io = ["write -P 0x5a 100M 512k", "write -P 0x5a 700M 512k", "write -z 0 64M", "write -P 0 900M 1M"];
    run(["qemu-io", "-f", "qcow2", ...io.flatMap((c) => ["-c", c]), "big.qcow2"]);
    expectFlattened(join(dir, "big.qcow2"));
    const streamed = join(dir, "streamed.qcow2");
    expect(mappedDataBytes(streamed)).toBe(2 * MiB);
    // header, L1, 3 L2 tables, refcounts: a few clusters beyond the data.
    expect(Bun.file(streamed).size).toBeLessThan(2 * MiB + 8 * 65536);
  });

  test("compressed, refuses a size other than the chain's plan and writes nothing", () => {
    const top = makeChain([{ io: ["write -P 0x5a 0 1M"] }]);
    const out = join(dir, "streamed.qcow2");
    const fd = openSync(out, "wx");
    try {
      expectError(() => flattenCompressed(top, fd, flattenedSize(top) + 65536, ZSTD), "disk", "ESTALE", "changed");
    } finally {
      closeSync(fd);
    }
    expect(Bun.file(out).size).toBe(0);
  });

  test("refuses compressed clusters as unsupported and leaves nothing", () => {
    run(["qemu-img", "create", "-q", "-f", "qcow2", "plain.qcow2", "4M"]);
    run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", "plain.qcow2"]);
    run(["qemu-img", "convert", "-c", "-O", "qcow2", "plain.qcow2", "packed.qcow2"]);
    const out = join(dir, "flat.qcow2");
    expectError(() => flatten(join(dir, "packed.qcow2"), out), "unsupported", "ENOTSUP", "compressed clusters");
    expect(existsSync(out)).toBe(false);
  });

  test("refuses an existing destination and leaves it alone", () => {
    const top = makeChain([{ io: [] }]);
    const out = makeRaw("flat.qcow2", 100, 0x42);
    expectError(() => flatten(top, out), "already_exists", "EEXIST");
    expect(readFileSync(out).equals(Buffer.alloc(100, 0x42))).toBe(true);
  });

  test("a missing backing file is not_found and leaves nothing", () => {
    const top = makeChain([{ io: [] }, { io: [] }]);
    rmSync(join(dir, "l0.qcow2"));
    const out = join(dir, "flat.qcow2");
    expectError(() => flatten(top, out), "not_found", "ENOENT", top);
    expect(readdirSync(dir).sort()).toEqual(["base.raw", "l1.qcow2"]);
  });
});

describe("bad inputs", () => {
  test("a missing backing file is not_found and leaves no overlay behind", () => {
    const overlay = join(dir, "disk.qcow2");
    expectError(() => createOverlay({ path: overlay, backingFile: "missing.raw", backingFormat: "raw" }), "not_found", overlay, "ENOENT");
    expect(existsSync(overlay)).toBe(false);
  });

  test("an existing destination is a disk error and is left alone", () => {
    makeRaw("base.raw", MiB);
    const overlay = makeRaw("disk.qcow2", 100, 0x42);
    const create = () => createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw" });
    expectError(create, "disk", overlay, "EEXIST");
    expect(readFileSync(overlay).equals(Buffer.alloc(100, 0x42))).toBe(true);
  });

  test("a file that is not qcow2 is a disk error", () => {
    const raw = makeRaw("base.raw", MiB);
    expectError(() => readQcow2Info(raw), "disk", raw, "EINVAL");
    const create = () => createOverlay({ path: join(dir, "d.qcow2"), backingFile: raw, backingFormat: "qcow2" });
    expectError(create, "disk", "EINVAL");
  });

  test("a truncated image is a disk error", () => {
    makeRaw("base.raw", MiB);
    const overlay = join(dir, "disk.qcow2");
    createOverlay({ path: overlay, backingFile: "base.raw", backingFormat: "raw" });
    truncateSync(overlay, 100_000);
    expectError(() => readQcow2Info(overlay), "disk", "EINVAL");
    truncateSync(overlay, 50);
    expectError(() => setBackingFile(overlay, "base.raw", "raw"), "disk", "EINVAL");
  });

  test("a missing image is not_found", () => {
    expectError(() => readQcow2Info(join(dir, "nope.qcow2")), "not_found", "ENOENT");
  });

  test("bad arguments are invalid_argument before anything is touched", () => {
    makeRaw("base.raw", MiB);
    const overlay = join(dir, "disk.qcow2");
    const valid = { path: overlay, backingFile: "base.raw", backingFormat: "raw" } as const;
    const vmdk = "vmdk" as "raw"; // as an untyped caller or a database row could pass
    expectError(() => createOverlay({ ...valid, backingFormat: vmdk }), "invalid_argument", "vmdk");
    expectError(() => createOverlay({ ...valid, virtualSize: 1000 }), "invalid_argument", "512");
    expectError(() => createOverlay({ ...valid, backingFile: "base.raw\0x" }), "invalid_argument", "NUL");
    expectError(() => createOverlay({ ...valid, backingFile: "" }), "invalid_argument", "empty");
    expectError(() => setBackingFile(overlay, "base.raw", vmdk), "invalid_argument", "vmdk");
    expect(existsSync(overlay)).toBe(false);
  });
});
