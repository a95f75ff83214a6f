import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { applyLayer } from "./layer.ts";
import type { ApplyLayerOptions } from "./layer.ts";
import { writeTar, writeTarHeader } from "./tar-writer.test-helper.ts";
import type { WriteEntry } from "./tar-writer.test-helper.ts";
import { readXattrHex } from "../../test/helpers/xattr.ts";

let work: string;
let root: string;
beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), "boxlite-layer-"));
  root = join(work, "rootfs");
  mkdirSync(root);
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

const apply = (entries: WriteEntry[], options: Partial<ApplyLayerOptions> = {}) => applyLayer(root, writeTar(entries), { source: "sha256:layer1", ...options });

/** Awaits a rejection and returns it as a BoxliteError, failing the test otherwise. */
async function rejection(promise: Promise<unknown>): Promise<BoxliteError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BoxliteError);
  return error as BoxliteError;
}

describe("layer formats", () => {
  const entries: WriteEntry[] = [
    { path: "etc/", type: "5" },
    { path: "etc/hostname", data: "box\n" },
  ];

  test("applies a plain tar layer and reports entries and bytes", async () => {
    const result = await apply(entries);
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("box\n");
    expect(result.entries).toBe(2);
    expect(result.bytes).toBe(writeTar(entries).length);
  });

  test("detects a gzip layer by its magic bytes", async () => {
    await applyLayer(root, Bun.gzipSync(writeTar(entries)), { source: "gz" });
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("box\n");
  });

  test("detects a zstd layer by its magic bytes, fed in small chunks", async () => {
    const compressed = Bun.zstdCompressSync(writeTar(entries));
    async function* chunks() {
      for (let i = 0; i < compressed.length; i += 3) yield compressed.subarray(i, i + 3);
    }
    await applyLayer(root, chunks(), { source: "zst" });
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("box\n");
  });

  test("stops a zero-filled bomb at the size limit, naming the layer and the limit, without writing it", async () => {
    const bomb = Bun.gzipSync(writeTar([{ path: "zeros", data: new Uint8Array(64 * 1024 * 1024) }]));
    const error = await rejection(applyLayer(root, bomb, { source: "sha256:bomb", maxBytes: 1024 * 1024 }));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain("sha256:bomb");
    expect(error.message).toContain(String(1024 * 1024));
    expect(existsSync(join(root, "zeros"))).toBe(false);
  });

  test("refuses a truncated gzip layer with the layer's name", async () => {
    const gz = Bun.gzipSync(writeTar(entries));
    const error = await rejection(applyLayer(root, gz.subarray(0, gz.length - 20), { source: "sha256:cut" }));
    expect(error.message).toContain("sha256:cut");
  });
});

describe("file contents stream to disk", () => {
  test("writes a file byte for byte, whatever sizes the input's chunks have", async () => {
    const data = new Uint8Array(3 * 1024 * 1024 + 123).map((_, i) => (i * 7 + (i >> 12)) % 256);
    const tar = writeTar([
      { path: "f", data },
      { path: "g", data: "tail" },
    ]);
    // Pieces smaller and bigger than the writer's 1 MiB batch, and ones cutting headers in two.
    const sizes = [1, 4096, 1_500_000, 65_536, 3, 700_000];
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0, n = 0; i < tar.length; i += sizes[n++ % sizes.length] as number) yield tar.subarray(i, i + (sizes[n % sizes.length] as number));
    }
    await applyLayer(root, chunks(), { source: "chunks" });
    expect(readFileSync(join(root, "f")).equals(data)).toBe(true);
    expect(readFileSync(join(root, "g"), "utf8")).toBe("tail");
  });

  test("each file holds only its own bytes, though one write buffer serves them all", async () => {
    const big = new Uint8Array(1_500_000).fill(0x61);
    const small = new Uint8Array(5000).fill(0x62);
    const tar = writeTar([
      { path: "big", data: big },
      { path: "small", data: small },
      { path: "empty", data: "" },
      { path: "again", data: big.subarray(0, 700_000) },
    ]);
    // 4 KiB pieces: every file goes through the buffer rather than straight to write(2).
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for (let i = 0; i < tar.length; i += 4096) yield tar.subarray(i, i + 4096);
    }
    await applyLayer(root, chunks(), { source: "chunks" });
    expect(readFileSync(join(root, "big")).equals(big)).toBe(true);
    expect(readFileSync(join(root, "small")).equals(small)).toBe(true);
    expect(statSync(join(root, "empty")).size).toBe(0);
    expect(readFileSync(join(root, "again")).equals(big.subarray(0, 700_000))).toBe(true);
  });

  test("refuses a layer cut off inside a file's content, naming the layer and the entry, and leaves no partial file", async () => {
    const tar = writeTar([
      { path: "etc/hostname", data: "box\n" },
      { path: "big", data: new Uint8Array(100_000).fill(1) },
    ]);
    const error = await rejection(applyLayer(root, Bun.gzipSync(tar.subarray(0, 1024 + 512 + 50_000)), { source: "sha256:cut" }));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toBe('sha256:cut: tar entry "big" at byte 1024 is truncated: the archive ends inside it');
    expect(existsSync(join(root, "big"))).toBe(false);
    expect(readFileSync(join(root, "etc/hostname"), "utf8")).toBe("box\n");
  });

  test("applies a 2 GiB file in a gzip layer without holding it in memory", async () => {
    const size = 2 * 1024 * 1024 * 1024;
    const block = 64 * 1024 * 1024;
    const zeros = Bun.gzipSync(new Uint8Array(block), { level: 9 });
    // Concatenated gzip members (gunzip reads them all): the header, 32 × 64 MiB of zeros, the end-of-archive blocks.
    async function* layer(): AsyncGenerator<Uint8Array> {
      yield Bun.gzipSync(writeTarHeader({ path: "big" }, size));
      for (let done = 0; done < size; done += block) yield zeros;
      yield Bun.gzipSync(new Uint8Array(1024));
    }
    Bun.gc(true);
    const before = process.memoryUsage.rss();
    let peak = before;
    const sample = () => {
      peak = Math.max(peak, process.memoryUsage.rss());
    };
    const sampler = setInterval(sample, 10);
    const result = await applyLayer(root, layer(), { source: "sha256:big", maxBytes: size + 1024 * 1024 }).finally(() => clearInterval(sampler));
    sample();
    expect(statSync(join(root, "big")).size).toBe(size);
    expect(result.bytes).toBe(512 + size + 1024);
    // Buffering the file, as the reader once did, would add 2 GiB.
    expect(peak - before).toBeLessThan(256 * 1024 * 1024);
  });
});

describe("whiteouts", () => {
  test("a .wh. entry deletes the lower file and never appears itself", async () => {
    await apply([
      { path: "a/", type: "5" },
      { path: "a/gone", data: "x" },
      { path: "a/kept", data: "y" },
    ]);
    const result = await apply([{ path: "a/.wh.gone" }]);
    expect(readdirSync(join(root, "a"))).toEqual(["kept"]);
    expect(result.whiteouts).toBe(1);
  });

  test("a .wh. entry deletes a whole lower directory", async () => {
    await apply([{ path: "d/sub/file", data: "x" }]);
    await apply([{ path: "d/.wh.sub" }]);
    expect(readdirSync(join(root, "d"))).toEqual([]);
  });

  test("an opaque marker removes lower content but keeps what this layer adds", async () => {
    await apply([
      { path: "o/lower", data: "1" },
      { path: "o/both/lower", data: "2" },
      { path: "other", data: "3" },
    ]);
    await apply([{ path: "o/new", data: "4" }, { path: "o/both/upper", data: "5" }, { path: "o/.wh..wh..opq" }]);
    expect(readdirSync(join(root, "o")).sort()).toEqual(["both", "new"]);
    expect(readdirSync(join(root, "o/both"))).toEqual(["upper"]);
    expect(existsSync(join(root, "other"))).toBe(true);
  });
});

describe("links, modes, ownership and times", () => {
  test("keeps symlinks as written, even absolute ones", async () => {
    await apply([
      { path: "bin/sh", type: "2", link: "/bin/busybox" },
      { path: "rel", type: "2", link: "../../x" },
    ]);
    expect(readlinkSync(join(root, "bin/sh"))).toBe("/bin/busybox");
    expect(readlinkSync(join(root, "rel"))).toBe("../../x");
  });

  test("makes a hard link to an entry already extracted", async () => {
    await apply([
      { path: "bin/busybox", data: "elf" },
      { path: "bin/ls", type: "1", link: "bin/busybox" },
    ]);
    expect(statSync(join(root, "bin/ls")).ino).toBe(statSync(join(root, "bin/busybox")).ino);
  });

  test("keeps setuid and sticky bits, ownership and mtimes", async () => {
    await apply([
      { path: "tmp/", type: "5", mode: 0o1777, mtime: 1_600_000_000 },
      { path: "bin/su", data: "x", mode: 0o4755, uid: 0, gid: 0 },
      { path: "home/u/f", data: "x", uid: 1000, gid: 1000, mtime: 1_500_000_000 },
    ]);
    expect(statSync(join(root, "tmp")).mode & 0o7777).toBe(0o1777);
    expect(statSync(join(root, "tmp")).mtimeMs).toBe(1_600_000_000_000);
    expect(statSync(join(root, "bin/su")).mode & 0o7777).toBe(0o4755);
    expect(statSync(join(root, "home/u/f")).mtimeMs).toBe(1_500_000_000_000);
    if (process.getuid?.() === 0) expect(statSync(join(root, "home/u/f")).uid).toBe(1000);
  });

  test("an existing directory stays and takes the new entry's mode", async () => {
    await apply([
      { path: "d/", type: "5", mode: 0o700 },
      { path: "d/f", data: "x" },
    ]);
    await apply([{ path: "d/", type: "5", mode: 0o755 }]);
    expect(readFileSync(join(root, "d/f"), "utf8")).toBe("x");
    expect(statSync(join(root, "d")).mode & 0o7777).toBe(0o755);
  });

  test("replacing a symlink by a file does not write through the symlink", async () => {
    const outside = join(work, "outside");
    writeFileSync(outside, "host");
    await apply([{ path: "link", type: "2", link: outside }]);
    await apply([{ path: "link", data: "guest" }]);
    expect(readFileSync(outside, "utf8")).toBe("host");
    expect(lstatSync(join(root, "link")).isFile()).toBe(true);
  });

  test("makes fifos and device nodes instead of skipping them", async () => {
    const result = await apply([
      { path: "dev/null", type: "3", mode: 0o666, devMajor: 1, devMinor: 3 },
      { path: "run/pipe", type: "6" },
    ]);
    expect(result.skippedSpecial).toEqual([]);
    expect(lstatSync(join(root, "dev/null")).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(root, "run/pipe")).isFIFO()).toBe(true);
  });

  test("sets pax xattrs on the entry and reports none skipped", async () => {
    const result = await apply([{ path: "bin/ping", data: "x", pax: { "SCHILY.xattr.user.note": "hi" } }]);
    expect(result.skippedXattrs).toEqual([]);
    expect(readXattrHex(join(root, "bin/ping"), "user.note")).toBe(Buffer.from("hi").toString("hex"));
  });
});

describe("diff ids", () => {
  const entries: WriteEntry[] = [{ path: "etc/hostname", data: "box\n" }];
  const hex = (bytes: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;

  test("the diffId is the sha256 of the uncompressed tar, also for a gzip layer", async () => {
    const tar = writeTar(entries);
    expect((await apply(entries)).diffId).toBe(hex(tar));
    expect((await applyLayer(root, Bun.gzipSync(tar), { source: "gz" })).diffId).toBe(hex(tar));
  });

  test("the diffId covers the padding after the end-of-archive blocks", async () => {
    // tar pads archives to whole 10 KiB records; those zeros are part of what the DiffID hashes.
    const padded = new Uint8Array(10240);
    padded.set(writeTar(entries));
    // In blocks, so the reader stops before the padding has arrived.
    async function* blocks() {
      for (let i = 0; i < padded.length; i += 512) yield padded.subarray(i, i + 512);
    }
    const result = await applyLayer(root, blocks(), { source: "padded" });
    expect(result.diffId).toBe(hex(padded));
    expect(result.bytes).toBe(10240);
  });

  test("padding after the end blocks still counts against the limit", async () => {
    const padded = new Uint8Array(4 * 1024 * 1024);
    padded.set(writeTar(entries));
    const error = await rejection(
      applyLayer(root, Bun.gzipSync(padded), { source: "tail", maxBytes: 1024 * 1024, limitDescription: "the image's total of 1 MiB" }),
    );
    expect(error.message).toContain("the image's total of 1 MiB");
  });
});

describe("entries that try to escape the root", () => {
  const outside = () => join(work, "outside");

  test("refuses a .. component, naming the path and the layer", async () => {
    const error = await rejection(apply([{ path: "a/../../outside", data: "x" }]));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toContain("a/../../outside");
    expect(error.message).toContain("sha256:layer1");
    expect(existsSync(outside())).toBe(false);
  });

  test("treats an absolute path as relative to the root", async () => {
    await apply([{ path: `/${outside().slice(1)}`, data: "x" }]);
    expect(existsSync(outside())).toBe(false);
    expect(existsSync(join(root, outside()))).toBe(true);
  });

  test("refuses a parent that is a symlink made earlier in the same layer", async () => {
    mkdirSync(outside());
    const error = await rejection(
      apply([
        { path: "esc", type: "2", link: outside() },
        { path: "esc/pwned", data: "x" },
      ]),
    );
    expect(error.message).toContain("esc/pwned");
    expect(readdirSync(outside())).toEqual([]);
  });

  test("refuses a parent that is a symlink made by a lower layer", async () => {
    mkdirSync(outside());
    await apply([{ path: "esc", type: "2", link: "../outside" }]);
    const error = await rejection(apply([{ path: "esc/pwned", data: "x" }], { source: "sha256:upper" }));
    expect(error.message).toContain("sha256:upper");
    expect(readdirSync(outside())).toEqual([]);
  });

  test("refuses a whiteout through a symlinked parent", async () => {
    mkdirSync(outside());
    writeFileSync(join(outside(), "victim"), "x");
    await apply([{ path: "esc", type: "2", link: outside() }]);
    await rejection(apply([{ path: "esc/.wh.victim" }]));
    expect(existsSync(join(outside(), "victim"))).toBe(true);
  });

  test("refuses a hard link whose target escapes", async () => {
    writeFileSync(outside(), "secret");
    const error = await rejection(apply([{ path: "stolen", type: "1", link: "../outside" }]));
    expect(error.message).toContain("stolen");
    expect(existsSync(join(root, "stolen"))).toBe(false);
  });

  test("refuses a hard link through a symlinked directory", async () => {
    writeFileSync(outside(), "secret");
    await rejection(
      apply([
        { path: "up", type: "2", link: work },
        { path: "stolen", type: "1", link: "up/outside" },
      ]),
    );
    expect(existsSync(join(root, "stolen"))).toBe(false);
  });
});

describe("hostile whiteouts and late symlinks", () => {
  test("refuses a whiteout that names its own directory or its parent", async () => {
    await apply([{ path: "keep/file", data: "x" }]);
    for (const path of [".wh..", ".wh...", "keep/.wh..", "keep/.wh..."]) {
      const error = await rejection(apply([{ path }]));
      expect(error.message).toContain(path);
    }
    expect(existsSync(root)).toBe(true);
    expect(readFileSync(join(root, "keep/file"), "utf8")).toBe("x");
  });

  test("does not set a directory's time through a symlink that replaced it later in the layer", async () => {
    const outside = join(work, "outside");
    mkdirSync(outside);
    const before = statSync(outside).mtimeMs;
    await apply([
      { path: "d/", type: "5", mtime: 1000 },
      { path: "d", type: "2", link: outside },
    ]);
    expect(statSync(outside).mtimeMs).toBe(before);
    expect(lstatSync(join(root, "d")).isSymbolicLink()).toBe(true);
  });
});

test.skipIf(process.getuid?.() !== 0)("as an unprivileged user, keeps going when ownership cannot be set", async () => {
  chownSync(work, 65534, 65534);
  chownSync(root, 65534, 65534);
  writeFileSync(
    join(work, "layer.tar"),
    writeTar([
      { path: "home/u/f", data: "x", uid: 1000, gid: 1000 },
      { path: "l", type: "2", link: "f", uid: 1000 },
    ]),
  );
  // The checkout may be unreadable to nobody (a clone in a 0700 temp dir): hand it a bundle in its own work dir.
  const bundle = await Bun.build({ entrypoints: [join(import.meta.dir, "layer.ts")], outdir: work, target: "bun", naming: "layer-bundle.js" });
  expect(bundle.success).toBe(true);
  const script = `import { applyLayer } from ${JSON.stringify(join(work, "layer-bundle.js"))};
    const result = await applyLayer(${JSON.stringify(root)}, await Bun.file(${JSON.stringify(join(work, "layer.tar"))}).bytes(), { source: "l" });
    console.log(result.entries);`;
  const run = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { cwd: work });
  expect(run.stderr.toString()).toBe("");
  expect(run.stdout.toString().trim()).toBe("2");
  expect(statSync(join(root, "home/u/f")).uid).toBe(65534);
});

test("a directory entry replaces a symlink instead of following it", async () => {
  const outside = join(work, "outside");
  mkdirSync(outside, { mode: 0o755 });
  await apply([{ path: "d", type: "2", link: outside }]);
  await apply([{ path: "d/", type: "5", mode: 0o700 }]);
  expect(lstatSync(join(root, "d")).isDirectory()).toBe(true);
  expect(statSync(outside).mode & 0o777).toBe(0o755);
});

test("a whiteout in a directory that does not exist creates nothing", async () => {
  const result = await apply([{ path: "nowhere/.wh.x" }, { path: "empty/.wh..wh..opq" }]);
  expect(readdirSync(root)).toEqual([]);
  expect(result.whiteouts).toBe(0);
});

test("a filesystem failure names the layer and the entry", async () => {
  // A 300-byte name is past NAME_MAX on every Linux filesystem, even for root.
  const error = await rejection(apply([{ path: "x", data: "x", pax: { path: `d/${"n".repeat(300)}` } }], { source: "sha256:long" }));
  expect(error.code).toBe("disk");
  expect(error.message).toContain("sha256:long");
  expect(error.message).toContain("nnnn");
});

test("applies a gzip layer written by GNU tar with a hard link, a symlink and a setuid file", async () => {
  const src = join(work, "src");
  mkdirSync(join(src, "bin"), { recursive: true });
  writeFileSync(join(src, "bin/busybox"), "elf", { mode: 0o4755 });
  Bun.spawnSync(["ln", join(src, "bin/busybox"), join(src, "bin/ls")]);
  Bun.spawnSync(["ln", "-s", "busybox", join(src, "bin/sh")]);
  const run = Bun.spawnSync(["tar", "--format=posix", "-C", src, "-czf", join(work, "layer.tgz"), "."]);
  expect(run.exitCode).toBe(0);
  const result = await applyLayer(root, Bun.file(join(work, "layer.tgz")).stream(), { source: "gnu.tgz" });
  expect(statSync(join(root, "bin/ls")).ino).toBe(statSync(join(root, "bin/busybox")).ino);
  expect(readlinkSync(join(root, "bin/sh"))).toBe("busybox");
  expect(statSync(join(root, "bin/busybox")).mode & 0o7777).toBe(0o4755);
  expect(result.entries).toBe(5);
});
