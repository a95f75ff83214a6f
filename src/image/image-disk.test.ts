import { afterAll, afterEach, beforeEach, describe, expect, test } from "bun:test";
import { appendFileSync, existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { loadConfig } from "../config/config.ts";
import type { Config } from "../config/config.ts";
import { BoxliteError } from "../util/errors.ts";
import { ArrivalProgress, type StoredBlob } from "./arriving-blob.ts";
import { buildImageDisk } from "./image-disk.ts";
import type { LayerEvent, LayerInput } from "./image-disk.ts";
import { writeTar } from "./tar-writer.test-helper.ts";
import type { WriteEntry } from "./tar-writer.test-helper.ts";

let home: string;
let config: Readonly<Config>;
let dest: string;
beforeEach(() => {
  home = mkdtempSync(join(tmpdir(), "boxlite-image-disk-"));
  config = loadConfig({ home });
  dest = join(home, "images", "disk-images", "sha256-test.ext4");
});
afterEach(() => rmSync(home, { recursive: true, force: true }));
/** Directories outside the test's home, removed at the end. */
const afterAllRemove: string[] = [];
afterAll(() => {
  for (const dir of afterAllRemove) rmSync(dir, { recursive: true, force: true });
});

const layer = (entries: WriteEntry[], extra: Partial<LayerInput> = {}): LayerInput => ({ source: "sha256:layer", open: () => writeTar(entries), ...extra });
const digest = (bytes: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;

/** Runs one debugfs request against the image, read-only: the oracle for what the guest will see. */
function debugfs(command: string): string {
  const run = Bun.spawnSync(["debugfs", "-R", command, dest], { stdout: "pipe", stderr: "pipe" });
  expect(run.exitCode).toBe(0);
  return run.stdout.toString();
}

/** The fields of `debugfs stat` a test checks. */
function stat(path: string): { inode: number; type: string; mode: string; uid: number; gid: number; links: number; mtime: number; text: string } {
  const text = debugfs(`stat ${path}`);
  const match = (re: RegExp) => re.exec(text)?.[1] ?? `missing ${re} in ${text}`;
  return {
    inode: Number(match(/Inode: (\d+)/)),
    type: match(/Type: (.+?)\s{2,}/),
    mode: match(/Mode:\s+(\d+)/),
    uid: Number(match(/User:\s+(\d+)/)),
    gid: Number(match(/Group:\s+(\d+)/)),
    links: Number(match(/Links: (\d+)/)),
    mtime: Number.parseInt(match(/mtime: 0x([0-9a-f]+)/), 16),
    text,
  };
}

/** Names in a directory of the image, from `ls -p` ("/ino/mode/uid/gid/name/size/" lines). */
function names(path: string): string[] {
  return debugfs(`ls -p ${path}`)
    .split("\n")
    .map((line) => line.split("/")[5] ?? "")
    .filter((name) => name !== "" && name !== "." && name !== "..")
    .sort();
}

async function rejection(promise: Promise<unknown>): Promise<BoxliteError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(BoxliteError);
  return error as BoxliteError;
}

/** Nothing at the destination, no temporary sibling, and a staging area holding only the build locks. */
function expectNothingLeft(): void {
  expect(existsSync(dest)).toBe(false);
  if (existsSync(dirname(dest))) expect(readdirSync(dirname(dest))).toEqual([]);
  expect(readdirSync(join(home, "tmp")).filter((name) => name !== "locks")).toEqual([]);
}

test("keeps contents, modes with setuid and sticky bits, owners, mtimes, hard links and symlinks", async () => {
  expect(
    await buildImageDisk(
      config,
      [
        layer([
          { path: "./", type: "5", mode: 0o755, mtime: 1_400_000_000 },
          { path: "etc/", type: "5", mtime: 1_600_000_000 },
          { path: "etc/hostname", data: "box\n", mode: 0o640, uid: 1000, gid: 1001, mtime: 1_500_000_000 },
          { path: "tmp/", type: "5", mode: 0o1777 },
          { path: "bin/su", data: "x", mode: 0o4755 },
          { path: "bin/busybox", data: "elf", mode: 0o755 },
          { path: "bin/ls", type: "1", link: "bin/busybox" },
          { path: "bin/sh", type: "2", link: "busybox" },
        ]),
      ],
      dest,
    ),
  ).toBe(dest);
  expect(debugfs("cat /etc/hostname")).toBe("box\n");
  expect(stat("/etc/hostname")).toMatchObject({ mode: "0640", uid: 1000, gid: 1001, mtime: 1_500_000_000 });
  expect(stat("/etc").mtime).toBe(1_600_000_000);
  expect(stat("/").mtime).toBe(1_400_000_000);
  expect(stat("/bin/su").mode).toBe("04755");
  expect(stat("/tmp").mode).toBe("01777");
  const [busybox, ls] = [stat("/bin/busybox"), stat("/bin/ls")];
  expect(ls.inode).toBe(busybox.inode);
  expect(busybox.links).toBe(2);
  expect(debugfs("cat /bin/ls")).toBe("elf");
  expect(stat("/bin/sh").type).toBe("symlink");
  expect(stat("/bin/sh").text).toContain('Fast link dest: "busybox"');
});

test("an image without /etc/resolv.conf or /etc/hosts gets them empty; its own are kept, symlinks too, and /etc's times", async () => {
  await buildImageDisk(
    config,
    [
      layer([
        { path: "etc/", type: "5", mtime: 1_600_000_000 },
        { path: "etc/hosts", data: "10.0.0.1 db\n", mode: 0o600, mtime: 1_500_000_000 },
      ]),
    ],
    dest,
  );
  expect(names("/etc")).toEqual(["hosts", "resolv.conf"]);
  expect(debugfs("cat /etc/hosts")).toBe("10.0.0.1 db\n");
  expect(stat("/etc/hosts")).toMatchObject({ mode: "0600", mtime: 1_500_000_000 });
  expect(stat("/etc/resolv.conf")).toMatchObject({ type: "regular", mode: "0644" });
  expect(debugfs("cat /etc/resolv.conf")).toBe("");
  expect(stat("/etc").mtime).toBe(1_600_000_000);
});

test("an image without /etc gets one holding both; an /etc or resolv.conf that is a symlink is left alone", async () => {
  /** A fresh build of the one layer's entries. */
  const build = async (entries: WriteEntry[]) => {
    rmSync(dest, { force: true });
    await buildImageDisk(config, [layer(entries)], dest);
  };
  await build([
    { path: "./", type: "5", mode: 0o755, mtime: 1_400_000_000 },
    { path: "bin/app", data: "elf", mode: 0o755 },
  ]);
  expect(names("/etc")).toEqual(["hosts", "resolv.conf"]);
  expect(stat("/etc").mode).toBe("0755");
  expect(stat("/").mtime).toBe(1_400_000_000);
  await build([
    { path: "etc/", type: "5" },
    { path: "etc/resolv.conf", type: "2", link: "../run/resolv.conf" },
  ]);
  expect(stat("/etc/resolv.conf").type).toBe("symlink");
  expect(names("/etc")).toEqual(["hosts", "resolv.conf"]);
  await build([
    { path: "private/etc/", type: "5" },
    { path: "etc", type: "2", link: "private/etc" },
  ]);
  expect(stat("/etc").type).toBe("symlink");
  expect(names("/private/etc")).toEqual([]);
});

test.skipIf(process.getuid?.() !== 0)("an unprivileged build of an image whose /etc is read-only (0555) succeeds without adding the files", async () => {
  // A home and a bundle of the builder that nobody (65534) owns and can reach (the test's home is root's alone).
  const work = mkdtempSync(join(tmpdir(), "boxlite-nobody-"));
  afterAllRemove.push(work);
  const bundle = await Bun.build({ entrypoints: [join(import.meta.dir, "image-disk.ts")], outdir: work, target: "bun", naming: "image-disk-bundle.js" });
  expect(bundle.success).toBe(true);
  writeFileSync(
    join(work, "layer.tar"),
    writeTar([
      { path: "bin/app", data: "elf", mode: 0o755 },
      { path: "etc/", type: "5", mode: 0o555 },
    ]),
  );
  const out = join(work, "disk.ext4");
  const script = `import { buildImageDisk } from ${JSON.stringify(join(work, "image-disk-bundle.js"))};
    const bytes = await Bun.file(${JSON.stringify(join(work, "layer.tar"))}).bytes();
    await buildImageDisk({ home: ${JSON.stringify(join(work, "home"))} }, [{ source: "l", open: () => bytes }], ${JSON.stringify(out)});`;
  Bun.spawnSync(["chown", "-R", "65534:65534", work]);
  const run = Bun.spawnSync(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "-e", script], { cwd: work, stderr: "pipe" });
  expect(run.stderr.toString()).toBe("");
  expect(run.exitCode).toBe(0);
  const listing = (path: string) => Bun.spawnSync(["debugfs", "-R", `ls -p ${path}`, out], { stdout: "pipe", stderr: "pipe" }).stdout.toString();
  expect(listing("/bin")).toContain("/app/");
  expect(listing("/etc")).not.toContain("/resolv.conf/");
});

test("keeps the root directory's mode and owner, which mke2fs -d alone resets", async () => {
  await buildImageDisk(config, [layer([{ path: "./", type: "5", mode: 0o750, uid: 5, gid: 6 }])], dest);
  expect(stat("/")).toMatchObject({ mode: "0750", uid: 5, gid: 6 });
});

test("a whiteout removes a lower file and an opaque directory hides lower content", async () => {
  await buildImageDisk(
    config,
    [
      layer([
        { path: "a/gone", data: "1" },
        { path: "a/kept", data: "2" },
        { path: "o/lower", data: "3" },
        { path: "o/sub/deep", data: "4" },
      ]),
      layer([{ path: "a/.wh.gone" }, { path: "o/.wh..wh..opq" }, { path: "o/new", data: "5" }]),
    ],
    dest,
  );
  expect(names("/a")).toEqual(["kept"]);
  expect(names("/o")).toEqual(["new"]);
  expect(debugfs("cat /o/new")).toBe("5");
});

test("keeps xattrs in the image: user.foo and a binary security.capability", async () => {
  const capability = new Uint8Array([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]);
  await buildImageDisk(
    config,
    [
      layer([
        { path: "bin/ping", data: "x", mode: 0o4755, uid: 1, pax: { "SCHILY.xattr.security.capability": capability, "SCHILY.xattr.user.foo": "bar" } },
        { path: "data/", type: "5", pax: { "SCHILY.xattr.user.dir": "d" } },
      ]),
    ],
    dest,
  );
  const expectedHex = [...capability].map((byte) => byte.toString(16).padStart(2, "0")).join(" ");
  expect(debugfs("ea_get -x /bin/ping security.capability")).toContain(`security.capability (20) = ${expectedHex}`);
  expect(debugfs("ea_get /bin/ping user.foo")).toContain('user.foo (3) = "bar"');
  expect(debugfs("ea_list /data")).toContain('user.dir (1) = "d"');
  expect(stat("/bin/ping")).toMatchObject({ mode: "04755", uid: 1 });
});

test("makes a char device with its major and minor, a block device and a fifo", async () => {
  await buildImageDisk(
    config,
    [
      layer([
        { path: "dev/null", type: "3", mode: 0o666, devMajor: 1, devMinor: 3 },
        { path: "dev/tty9", type: "3", mode: 0o620, gid: 5, devMajor: 4, devMinor: 300 },
        { path: "dev/vda", type: "4", mode: 0o660, devMajor: 254, devMinor: 0 },
        { path: "run/initctl", type: "6", mode: 0o600 },
      ]),
    ],
    dest,
  );
  expect(stat("/dev/null")).toMatchObject({ type: "character special", mode: "0666" });
  expect(stat("/dev/null").text).toContain("Device major/minor number: 01:03");
  expect(stat("/dev/tty9")).toMatchObject({ mode: "0620", gid: 5 });
  expect(stat("/dev/tty9").text).toContain("Device major/minor number: 04:300");
  expect(stat("/dev/vda").type).toBe("block special");
  expect(stat("/dev/vda").text).toContain("Device major/minor number: 254:00");
  expect(stat("/run/initctl")).toMatchObject({ type: "FIFO", mode: "0600" });
});

test("accepts layers whose diff ids match (of the uncompressed tar) and reports each", async () => {
  const lower = writeTar([{ path: "a", data: "1" }]);
  const upper = writeTar([{ path: "b", data: "2" }]);
  const events: LayerEvent[] = [];
  await buildImageDisk(
    config,
    [
      { source: "lower.tar.gz", diffId: digest(lower), open: () => Bun.gzipSync(lower) },
      { source: "upper.tar.zst", diffId: digest(upper), open: () => Bun.zstdCompressSync(upper) },
    ],
    dest,
    { onLayer: (event) => events.push(event) },
  );
  expect(events.map(({ index, source, bytes, entries, diffId }) => ({ index, source, bytes, entries, diffId }))).toEqual([
    { index: 0, source: "lower.tar.gz", bytes: lower.length, entries: 1, diffId: digest(lower) },
    { index: 1, source: "upper.tar.zst", bytes: upper.length, entries: 1, diffId: digest(upper) },
  ]);
  expect(names("/")).toEqual(["a", "b", "etc", "lost+found"]);
});

test("refuses a layer whose diff id does not match, naming it and both digests, and leaves nothing behind", async () => {
  const tar = writeTar([{ path: "a", data: "1" }]);
  const wrong = `sha256:${"0".repeat(64)}`;
  const error = await rejection(
    buildImageDisk(config, [layer([{ path: "base", data: "0" }]), { source: "sha256:tampered", diffId: wrong, open: () => tar }], dest),
  );
  expect(error.code).toBe("invalid_argument");
  expect(error.message).toContain("sha256:tampered");
  expect(error.message).toContain(wrong);
  expect(error.message).toContain(digest(tar));
  expectNothingLeft();
});

test("the size limit is a total across layers and says what it is", async () => {
  const three = writeTar([{ path: "f", data: new Uint8Array(3 * 1024 * 1024) }]);
  const limit = 5 * 1024 * 1024;
  const error = await rejection(
    buildImageDisk(
      config,
      [
        { source: "first", open: () => three },
        { source: "second", open: () => three },
      ],
      dest,
      { maxBytes: limit },
    ),
  );
  expect(error.message).toContain("second");
  expect(error.message).toContain(`limit of ${limit} bytes (5 MiB) for all layers together`);
  expectNothingLeft();
});

test("refuses a 10 GB gzip bomb at the limit, quickly and in little memory", async () => {
  // 160 gzip members of 64 MiB of zeros each: about 10 MB on the wire, 10 GiB expanded (gunzip reads concatenated members).
  const member = Bun.gzipSync(new Uint8Array(64 * 1024 * 1024), { level: 9 });
  async function* bomb(): AsyncGenerator<Uint8Array> {
    for (let i = 0; i < 160; i++) yield member;
  }
  const limit = 256 * 1024 * 1024;
  const rssBefore = process.resourceUsage().maxRSS;
  const started = performance.now();
  const error = await rejection(
    buildImageDisk(config, [layer([{ path: "etc/os-release", data: "x" }]), { source: "sha256:bomb", open: bomb }], dest, { maxBytes: limit }),
  );
  const seconds = (performance.now() - started) / 1000;
  expect(error.message).toContain("sha256:bomb");
  expect(error.message).toContain(`limit of ${limit} bytes (256 MiB)`);
  // 256 MiB of gunzip takes well under a second; 10 GiB would take tens.
  expect(seconds).toBeLessThan(10);
  // maxRSS is in KiB: the stream is never held whole.
  expect(process.resourceUsage().maxRSS - rssBefore).toBeLessThan(256 * 1024);
  expectNothingLeft();
});

describe("layers given as blobs in the store, applied in a worker thread as they arrive", () => {
  /** A blob already whole in the store. */
  function stored(name: string, bytes: Uint8Array): StoredBlob {
    const path = join(home, `${name}.blob`);
    writeFileSync(path, bytes);
    return { path, partialPath: `${path}.partial`, progress: ArrivalProgress.verified(), done: Promise.resolve() };
  }

  /** A blob whose download the test plays: `write` appends to the partial file, `finish` verifies it into place, `fail` fails it. */
  function arriving(name: string) {
    const path = join(home, `${name}.blob`);
    const progress = new ArrivalProgress();
    const done = Promise.withResolvers<void>();
    // A pull awaits every download itself (its `done`); the build looks at one only when applying it failed.
    done.promise.catch(() => {});
    let written = 0;
    const blob: StoredBlob = { path, partialPath: `${path}.partial`, progress, done: done.promise };
    return {
      blob,
      write(bytes: Uint8Array) {
        appendFileSync(blob.partialPath, bytes);
        written += bytes.length;
        progress.wrote(written);
      },
      finish() {
        renameSync(blob.partialPath, path);
        progress.settle("verified");
        done.resolve();
      },
      fail(error: Error) {
        progress.settle("failed");
        done.reject(error);
      },
    };
  }

  /** Polls until `path` exists under a staging tree of the home, or fails after 30 s. */
  async function staged(path: string): Promise<void> {
    const deadline = Date.now() + 30_000;
    const tmp = join(home, "tmp");
    while (Date.now() < deadline) {
      if (existsSync(tmp) && readdirSync(tmp).some((dir) => existsSync(join(tmp, dir, "rootfs", path)))) return;
      await Bun.sleep(10);
    }
    throw new Error(`${path} was never applied`);
  }

  test("keep contents, owners, modes and mtimes, and report each layer's diff id, beside streamed layers", async () => {
    const lower = writeTar([
      { path: "bin/", type: "5", mode: 0o755, mtime: 1_500_000_000 },
      { path: "bin/tool", data: "#!/bin/sh\n", mode: 0o4755, uid: 0, gid: 0, mtime: 1_500_000_000 },
      { path: "gone", data: "x" },
    ]);
    const upper = writeTar([
      { path: ".wh.gone", data: "" },
      { path: "etc/motd", data: "hi\n", mode: 0o640 },
    ]);
    const events: LayerEvent[] = [];
    await buildImageDisk(
      config,
      [
        { source: "lower", diffId: digest(lower), stored: stored("lower", Bun.gzipSync(lower)) },
        { source: "middle", open: () => writeTar([{ path: "streamed", data: "s" }]) },
        { source: "upper", diffId: digest(upper), stored: stored("upper", Bun.zstdCompressSync(upper)) },
      ],
      dest,
      { onLayer: (event) => events.push(event) },
    );
    expect(events.map(({ source, diffId }) => ({ source, diffId }))).toEqual([
      { source: "lower", diffId: digest(lower) },
      { source: "middle", diffId: expect.stringMatching(/^sha256:/) },
      { source: "upper", diffId: digest(upper) },
    ]);
    expect(names("/")).toEqual(["bin", "etc", "lost+found", "streamed"]);
    expect(stat("/bin/tool")).toMatchObject({ mode: "04755", uid: 0, mtime: 1_500_000_000 });
    expect(stat("/etc/motd").mode).toBe("0640");
    expect(debugfs("cat /etc/motd")).toBe("hi\n");
  });

  test("a layer is applied while it arrives, and the disk is built once it is whole", async () => {
    const tar = writeTar([
      { path: "early.txt", data: "first in the archive\n" },
      { path: "late.bin", data: new Uint8Array(2 * 1024 * 1024).map((_, i) => (i * 31) % 251) },
    ]);
    const gzip = Bun.gzipSync(tar);
    const download = arriving("layer");
    const built = buildImageDisk(config, [{ source: "sha256:layer", diffId: digest(tar), stored: download.blob }], dest);
    download.write(gzip.subarray(0, gzip.length / 2));
    // Only a build that reads the blob as it arrives gets to early.txt with half the blob in.
    await staged("early.txt");
    expect(existsSync(dest)).toBe(false);
    download.write(gzip.subarray(gzip.length / 2));
    download.finish();
    expect(await built).toBe(dest);
    expect(debugfs("cat /early.txt")).toBe("first in the archive\n");
    expect(stat("/late.bin").text).toContain("Size: 2097152");
  });

  test("a layer refused in the thread keeps its code and says which layer and entry, and nothing is left", async () => {
    const hostile = writeTar([{ path: "../escape", data: "x" }]);
    const error = await rejection(buildImageDisk(config, [{ source: "sha256:hostile", stored: stored("hostile", Bun.gzipSync(hostile)) }], dest));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toBe('sha256:hostile: entry "../escape" escapes the root filesystem; refusing the layer');
    expectNothingLeft();
  });

  test("a layer whose download fails midway fails the build with the download's error, and nothing is left", async () => {
    const tar = writeTar([
      { path: "early.txt", data: "x" },
      { path: "late.bin", data: new Uint8Array(1024 * 1024) },
    ]);
    const gzip = Bun.gzipSync(tar);
    const download = arriving("layer");
    const built = rejection(buildImageDisk(config, [layer([{ path: "a", data: "1" }]), { source: "sha256:abc", stored: download.blob }], dest));
    download.write(gzip.subarray(0, gzip.length / 2));
    await staged("early.txt");
    const failed = new BoxliteError("registry", "blob sha256:abc ended after 5 of 10 bytes (truncated)");
    download.fail(failed);
    expect(await built).toBe(failed);
    expectNothingLeft();
  });
});

test("returns an existing disk without opening any layer", async () => {
  await buildImageDisk(config, [layer([{ path: "a", data: "1" }])], dest);
  const untouched: LayerInput = {
    source: "never",
    open: () => {
      throw new Error("opened");
    },
  };
  expect(await buildImageDisk(config, [untouched], dest)).toBe(dest);
});

test("two builds of one disk in this process share one build", async () => {
  let opened = 0;
  const counted: LayerInput = {
    source: "counted",
    open: () => {
      opened++;
      return writeTar([{ path: "a", data: "1" }]);
    },
  };
  const results = await Promise.all([buildImageDisk(config, [counted], dest), buildImageDisk(config, [counted], dest)]);
  expect(results).toEqual([dest, dest]);
  expect(opened).toBe(1);
  expect(debugfs("cat /a")).toBe("1");
});

test("two processes building one disk at once both succeed with a whole file, built once", async () => {
  const layerPath = join(home, "layer.tar");
  writeFileSync(
    layerPath,
    writeTar([
      { path: "big", data: new Uint8Array(8 * 1024 * 1024).fill(7) },
      { path: "hello", data: "hi" },
    ]),
  );
  const script = `import { buildImageDisk } from ${JSON.stringify(join(import.meta.dir, "image-disk.ts"))};
    import { loadConfig } from ${JSON.stringify(join(import.meta.dir, "../config/config.ts"))};
    const bytes = await Bun.file(${JSON.stringify(layerPath)}).bytes();
    await buildImageDisk(loadConfig({ home: ${JSON.stringify(home)} }), [{ source: "l", open: () => bytes }], ${JSON.stringify(dest)}, { onLayer: () => console.log("applied") });`;
  const spawn = () => Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const procs = [spawn(), spawn()];
  const codes = await Promise.all(procs.map((proc) => proc.exited));
  const stderrs = await Promise.all(procs.map((proc) => new Response(proc.stderr).text()));
  const stdouts = await Promise.all(procs.map((proc) => new Response(proc.stdout).text()));
  expect({ codes, stderrs }).toEqual({ codes: [0, 0], stderrs: ["", ""] });
  // The second process waited on the build lock and found the disk built.
  expect(stdouts.join("")).toBe("applied\n");
  expect(readdirSync(dirname(dest))).toEqual(["sha256-test.ext4"]);
  expect(readdirSync(join(home, "tmp")).filter((name) => name !== "locks")).toEqual([]);
  expect(Bun.spawnSync(["e2fsck", "-fn", dest]).exitCode).toBe(0);
  expect(debugfs("cat /hello")).toBe("hi");
});
