import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { readTarStream } from "../image/tar.ts";
import { isBoxliteError } from "../util/errors.ts";
import { archiveOf, freshStaging, goodEntries, manifestFor, payload, sha256, writeDiskFiles } from "./archive-fixture.test-helper.ts";
import { fileHeader } from "./archive-tar.ts";
import { readArchive, sweepStaleTemps, writeArchive } from "./archive.ts";

const temps = new TempDirs();
const dir = temps.make("boxlite-archive-");
const { disks, paths } = writeDiskFiles(dir, 3 * 1024 * 1024 + 17, 1024 * 1024 + 3);
afterAll(() => temps.removeAll());

const now = new Date("2026-07-28T10:00:00.500Z");
const exportTo = (dest: string, extra: Partial<Parameters<typeof writeArchive>[0]> = {}) =>
  writeArchive({ dest, boxName: "web", image: "alpine:3.20", boxOptions: { cpus: 2, ports: [] }, disks: paths, now, ...extra });

describe("a round trip", () => {
  test("gives back the same disks and manifest", async () => {
    const dest = join(dir, "web.boxlite");
    const written = await exportTo(dest);
    expect(written.manifest).toEqual({
      version: 3,
      box_name: "web",
      image: "alpine:3.20",
      box_options: { cpus: 2, ports: [] },
      guest_disk_checksum: sha256(disks.guest),
      container_disk_checksum: sha256(disks.container),
      exported_at: "2026-07-28T10:00:00.500+00:00",
    });
    expect([...readFileSync(dest).subarray(0, 4)]).toEqual([0x28, 0xb5, 0x2f, 0xfd]);
    const staging = freshStaging(dir);
    const read = await readArchive(dest, staging);
    expect(read.manifest).toEqual(written.manifest);
    expect(read.compressed).toBe(true);
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(disks.container));
    expect(sha256(readFileSync(read.guestDisk ?? ""))).toBe(sha256(disks.guest));
    expect(readdirSync(staging).sort()).toEqual(["disk.qcow2", "guest-rootfs.qcow2", "manifest.json"]);
    expect(readdirSync(dir).filter((name) => name.includes(".tmp-"))).toEqual([]);
  });

  test("stamps v2 without box options and v5 with ports", async () => {
    expect((await exportTo(join(dir, "bare.boxlite"), { boxOptions: undefined })).manifest.version).toBe(2);
    expect((await exportTo(join(dir, "ports.boxlite"), { hasPorts: true })).manifest.version).toBe(5);
    expect((await exportTo(join(dir, "caps.boxlite"), { hasCapabilityPolicy: true })).manifest.version).toBe(4);
  });

  test("is listed by the system tar as exactly the three members", async () => {
    const dest = join(dir, "listed.boxlite");
    await exportTo(dest);
    const listing = Bun.spawnSync(["tar", "--zstd", "-tvf", dest]);
    expect(listing.exitCode).toBe(0);
    const lines = listing.stdout.toString().trim().split("\n");
    expect(lines.map((line) => line.split(/\s+/).at(-1))).toEqual(["manifest.json", "disk.qcow2", "guest-rootfs.qcow2"]);
    expect(lines[1]).toContain(` ${disks.container.length} `);
    expect(lines[1]).toStartWith("-rw-r--r--");
  });

  test("replaces an existing archive at dest", async () => {
    const dest = join(dir, "replaced.boxlite");
    writeFileSync(dest, "old");
    await exportTo(dest);
    expect((await readArchive(dest, freshStaging(dir))).manifest.image).toBe("alpine:3.20");
  });
});

describe("archives from elsewhere", () => {
  function systemTar(args: string[], files: Record<string, Uint8Array | string>): string {
    const source = temps.make("boxlite-archive-src-");
    for (const [name, data] of Object.entries(files)) writeFileSync(join(source, name), data);
    const out = join(dir, `${crypto.randomUUID()}.boxlite`);
    const run = Bun.spawnSync(["tar", ...args, out, "-C", source, ...Object.keys(files)]);
    expect(run.exitCode).toBe(0);
    return out;
  }

  test("reads one built by `tar --zstd -cf` from a manifest and two disks", async () => {
    const small = payload();
    const archive = systemTar(["--zstd", "-cf"], { "manifest.json": manifestFor(small), "disk.qcow2": small.container, "guest-rootfs.qcow2": small.guest });
    const read = await readArchive(archive, freshStaging(dir));
    expect(read.manifest.version).toBe(3);
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(small.container));
    expect(sha256(readFileSync(read.guestDisk ?? ""))).toBe(sha256(small.guest));
  });

  test("reads a `tar -C dir -cf .` archive, whose members start with ./", async () => {
    const small = payload();
    const source = temps.make("boxlite-archive-dot-");
    writeFileSync(join(source, "manifest.json"), manifestFor(small));
    writeFileSync(join(source, "disk.qcow2"), small.container);
    writeFileSync(join(source, "guest-rootfs.qcow2"), small.guest);
    const out = join(dir, "dot.boxlite");
    expect(Bun.spawnSync(["tar", "--zstd", "-cf", out, "-C", source, "."]).exitCode).toBe(0);
    const read = await readArchive(out, freshStaging(dir));
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(small.container));
  });

  test("reads a v1 plain tar with no checksums", async () => {
    const small = payload();
    const manifest = manifestFor(small, { version: 1, box_options: undefined, guest_disk_checksum: "", container_disk_checksum: "" });
    const archive = systemTar(["-cf"], { "manifest.json": manifest, "disk.qcow2": small.container, "guest-rootfs.qcow2": small.guest });
    const read = await readArchive(archive, freshStaging(dir));
    expect(read.compressed).toBe(false);
    expect(read.manifest).toMatchObject({ version: 1, container_disk_checksum: "" });
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(small.container));
  });

  test("reads a newer reference export: no guest disk and an empty guest checksum", async () => {
    const small = payload();
    const archive = archiveOf(dir, [
      { path: "manifest.json", data: manifestFor(small, { guest_disk_checksum: "" }) },
      { path: "disk.qcow2", data: small.container },
    ]);
    const read = await readArchive(archive, freshStaging(dir));
    expect(read.guestDisk).toBeNull();
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(small.container));
  });

  test("reads members in any order", async () => {
    const small = payload();
    const archive = archiveOf(dir, goodEntries(small).reverse());
    expect((await readArchive(archive, freshStaging(dir))).manifest.image).toBe("alpine:latest");
  });
});

describe("a member past 8 GiB", () => {
  const size = 9 * 1024 ** 3 + 5;

  test("gets a pax size the reader uses", async () => {
    async function* once() {
      yield fileHeader("disk.qcow2", size, 0);
    }
    const entries = readTarStream(once(), "test");
    const first = await entries.next();
    expect(first.value?.path).toBe("disk.qcow2");
    expect(first.value?.size).toBe(size);
  });

  test("is listed by the system tar with its size", () => {
    const path = join(dir, "huge-header.tar");
    writeFileSync(path, fileHeader("disk.qcow2", size, 0));
    const listing = Bun.spawnSync(["tar", "-tvf", path]);
    expect(listing.stdout.toString()).toContain(` ${size} `);
    expect(listing.stdout.toString()).toContain("disk.qcow2");
  });
});

describe("a failed write", () => {
  test("of a missing disk leaves neither dest nor a temporary file", async () => {
    const dest = join(dir, "missing.boxlite");
    const error = await exportTo(dest, { disks: { container: join(dir, "nope.qcow2"), guest: paths.guest } }).catch((caught) => caught);
    expect(isBoxliteError(error) && error.code).toBe("not_found");
    expect(String(error.message)).toContain("nope.qcow2");
    expect(existsSync(dest)).toBe(false);
    expect(readdirSync(dir).filter((name) => name.startsWith("missing.boxlite"))).toEqual([]);
  });

  test.each(["temp-created", "entry:manifest.json", "entry:disk.qcow2", "compressed", "synced"])(
    "at %s leaves neither dest nor a temporary file",
    async (point) => {
      const dest = join(dir, `fail-${point.replace(/\W/g, "-")}.boxlite`);
      const hooks = {
        point(name: string) {
          if (name === point) throw new Error(`injected at ${name}`);
        },
      };
      const error = await exportTo(dest, { hooks }).catch((caught) => caught);
      expect(isBoxliteError(error) && error.message).toContain(`injected at ${point}`);
      expect(readdirSync(dir).filter((name) => name.startsWith(dest.split("/").at(-1) ?? ""))).toEqual([]);
    },
  );
});

describe("sweepStaleTemps", () => {
  test("removes the temporary files of dead writers only", async () => {
    const sweepDir = temps.make("boxlite-archive-sweep-");
    const dead = Bun.spawn(["true"]);
    await dead.exited;
    const stale = join(sweepDir, `old.boxlite.tmp-${dead.pid}-0123456789ab`);
    const live = join(sweepDir, `other.boxlite.tmp-${process.pid}-0123456789ab`);
    const unrelated = join(sweepDir, `notes.txt.tmp-${dead.pid}-0123456789ab`);
    for (const path of [stale, live, unrelated]) writeFileSync(path, "x");
    expect(sweepStaleTemps(join(sweepDir, "new.boxlite"))).toEqual([stale]);
    expect(readdirSync(sweepDir).sort()).toEqual([unrelated, live].map((path) => basename(path)).sort());
  });
});
