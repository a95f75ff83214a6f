/** Every kind of bad archive, each refused with a clear error and nothing left in the staging directory. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import type { WriteEntry } from "../image/tar-writer.test-helper.ts";
import { writeTar } from "../image/tar-writer.test-helper.ts";
import { archiveOf, expectRefusal, freshStaging, goodEntries, manifestFor, payload, sha256 } from "./archive-fixture.test-helper.ts";
import { fileHeader } from "./archive-tar.ts";

const temps = new TempDirs();
let dir = "";
beforeAll(() => {
  dir = temps.make("boxlite-archive-hostile-");
});
afterAll(() => temps.removeAll());

const disks = payload();
const [manifest, container, guest] = goodEntries(disks) as [WriteEntry, WriteEntry, WriteEntry];

async function refuse(entries: WriteEntry[], plain = false): Promise<string> {
  const error = await expectRefusal(archiveOf(dir, entries, { plain }), freshStaging(dir));
  return `${error.code}: ${error.message}`;
}

describe("members", () => {
  test.each([
    ["../disk.qcow2", "escapes the staging directory"],
    ["/etc/disk.qcow2", "escapes the staging directory"],
    ["./../../disk.qcow2", "escapes the staging directory"],
    ["disks/../disk.qcow2", "escapes the staging directory"],
  ])("refuses %s", async (path, message) => {
    expect(await refuse([manifest, { ...container, path }, guest])).toContain(message);
  });

  test.each([
    ["2", "a symbolic link"],
    ["1", "a hard link"],
    ["3", "a character device"],
    ["4", "a block device"],
    ["6", "a FIFO"],
  ] as const)("refuses a disk.qcow2 of type %s", async (type, message) => {
    const text = await refuse([manifest, { path: "disk.qcow2", type, link: "/etc/shadow" }, guest]);
    expect(text).toBe(`invalid_argument: invalid archive: member "disk.qcow2" is ${message}; only regular files are allowed`);
  });

  test("refuses a GNU sparse member whose empty map does not account for its data", async () => {
    // Sparse members are read (archive-sparse.test.ts); this one's header holds no map at all.
    expect(await refuse([manifest, { ...container, type: "S" as "0" }, guest])).toContain(
      `sparse tar entry "disk.qcow2": its map's segments hold 0 bytes but the member carries ${disks.container.length}`,
    );
  });

  test("refuses a directory other than ./", async () => {
    expect(await refuse([{ path: "disks/", type: "5" }, manifest, container, guest])).toContain('"disks/" is a directory');
  });

  test("accepts a leading ./ directory", async () => {
    const archive = archiveOf(dir, [{ path: "./", type: "5" }, manifest, container, guest]);
    const { readArchive } = await import("./archive-read.ts");
    expect((await readArchive(archive, freshStaging(dir))).manifest.version).toBe(3);
  });

  test("refuses a member that appears twice", async () => {
    expect(await refuse([manifest, container, container, guest])).toContain('member "disk.qcow2" appears twice');
  });

  test("refuses an unknown member", async () => {
    expect(await refuse([manifest, container, guest, { path: "notes.txt", data: "hi" }])).toContain('unexpected member "notes.txt"');
  });

  test("refuses an archive without manifest.json", async () => {
    expect(await refuse([container, guest])).toContain("it lacks manifest.json");
  });

  test("refuses an archive without disk.qcow2", async () => {
    expect(await refuse([manifest, guest])).toContain("it lacks disk.qcow2");
  });

  test("refuses an archive without the guest disk its manifest has a checksum for", async () => {
    expect(await refuse([manifest, container])).toContain("lacks guest-rootfs.qcow2");
  });

  test("refuses a v2+ guest disk that has no checksum", async () => {
    const unchecked = { path: "manifest.json", data: manifestFor(disks, { guest_disk_checksum: "" }) };
    expect(await refuse([unchecked, container, guest])).toContain("has no checksum for it");
  });
});

describe("manifests", () => {
  test("refuses one that is not JSON", async () => {
    expect(await refuse([{ path: "manifest.json", data: '{"version": 3,' }, container, guest])).toContain("manifest.json is not JSON");
  });

  test("refuses one that lacks a field", async () => {
    const data = manifestFor(disks, { image: undefined });
    expect(await refuse([{ path: "manifest.json", data }, container, guest])).toContain('lacks the string field "image"');
  });

  test("refuses an unknown version, naming it, before extracting the disks", async () => {
    const data = manifestFor(disks, { version: 9 });
    expect(await refuse([{ path: "manifest.json", data }, container, guest])).toBe(
      "unsupported: archive version 9 is newer than this boxlite reads (1 to 6); upgrade boxlite to import it",
    );
  });

  test("refuses one past 1 MiB from its header's claim", async () => {
    const data = manifestFor(disks).replace("{", `{${" ".repeat(1024 * 1024)}`);
    expect(await refuse([{ path: "manifest.json", data }, container, guest])).toContain(`manifest.json claims ${data.length} bytes, past the limit of 1048576`);
  });

  test("refuses a v2 manifest that carries box_options", async () => {
    const data = manifestFor(disks, { version: 2 });
    expect(await refuse([{ path: "manifest.json", data }, container, guest])).toContain("claims version 2");
  });
});

describe("checksums", () => {
  test("refuses a container disk that does not match", async () => {
    const tampered = new Uint8Array(disks.container);
    tampered[100] = (tampered[100] ?? 0) ^ 1;
    const text = await refuse([manifest, { path: "disk.qcow2", data: tampered }, guest]);
    expect(text).toContain(`disk.qcow2 does not match its checksum (manifest ${sha256(disks.container)}, content ${sha256(tampered)})`);
  });

  test("refuses a guest disk that does not match", async () => {
    expect(await refuse([manifest, container, { path: "guest-rootfs.qcow2", data: disks.container }])).toContain(
      "guest-rootfs.qcow2 does not match its checksum",
    );
  });

  test("checks the checksums a v1 plain tar does carry", async () => {
    const data = manifestFor(disks, { version: 1, box_options: undefined });
    expect(await refuse([{ path: "manifest.json", data }, container, { path: "guest-rootfs.qcow2", data: "x" }], true)).toContain(
      "does not match its checksum",
    );
  });
});

describe("truncation and corruption", () => {
  const whole = () => writeTar([manifest, container, guest]);

  test("refuses a plain tar cut inside a disk", async () => {
    const path = join(dir, "cut.tar");
    writeFileSync(path, whole().subarray(0, 3000));
    const error = await expectRefusal(path, freshStaging(dir));
    expect(error.message).toContain('tar entry "disk.qcow2" at byte 1024 is truncated');
  });

  test.each([5, 40, 1000, 5000])("refuses a zstd stream missing its last %i bytes", async (cut) => {
    const compressed = Bun.zstdCompressSync(whole(), { level: 3 });
    const path = join(dir, `cut-${cut}.boxlite`);
    writeFileSync(path, compressed.subarray(0, compressed.length - cut));
    const error = await expectRefusal(path, freshStaging(dir));
    expect(error.message).toMatch(/zstd stream is corrupt or truncated|truncated/);
  });

  test("refuses a zstd stream cut only inside the end blocks, where every member is whole", async () => {
    // Stored as raw blocks the tail is the end blocks themselves; compressed, any cut leaves zstd mid-frame.
    const compressed = Bun.zstdCompressSync(whole(), { level: 3 });
    const path = join(dir, "cut-tail.boxlite");
    writeFileSync(path, compressed.subarray(0, compressed.length - 1));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("zstd");
  });

  test("refuses trailing garbage after the zstd frame", async () => {
    const compressed = Bun.zstdCompressSync(whole(), { level: 3 });
    const path = join(dir, "garbage.boxlite");
    writeFileSync(path, Buffer.concat([compressed, Buffer.from("not zstd at all")]));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("zstd stream is corrupt");
  });

  test("refuses bytes that are not a tar", async () => {
    const path = join(dir, "random.boxlite");
    writeFileSync(path, crypto.getRandomValues(new Uint8Array(4096)));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("corrupt tar header at byte 0");
  });

  test("refuses an empty file", async () => {
    const path = join(dir, "empty.boxlite");
    writeFileSync(path, "");
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("lacks manifest.json");
  });

  test("refuses a missing archive as not found", async () => {
    const error = await expectRefusal(join(dir, "absent.boxlite"), freshStaging(dir));
    expect(error.code).toBe("not_found");
  });
});

describe("bombs", () => {
  test("refuses members that claim more than the limit, before writing them", async () => {
    const error = await expectRefusal(archiveOf(dir, [manifest, container, guest]), freshStaging(dir), { maxBytes: 50_000 });
    expect(error.message).toContain("its members claim more than 50000 bytes");
  });

  test("refuses a header claiming 300 GiB under the default limit without reading on", async () => {
    const tar = Buffer.concat([writeTar([manifest]).subarray(0, -1024), fileHeader("disk.qcow2", 300 * 1024 ** 3, 0), new Uint8Array(4096)]);
    const path = join(dir, "claim.boxlite");
    writeFileSync(path, Bun.zstdCompressSync(tar));
    expect((await expectRefusal(path, freshStaging(dir))).message).toMatch(/its members claim more than \d+ bytes/);
  });

  test("stops a stream that expands past the limit outside any member", async () => {
    // A global pax header is skipped, not extracted: 64 MiB of it compresses to a few KiB.
    const padding: WriteEntry = { path: "pax_global_header", type: "g" as "x", data: new Uint8Array(64 * 1024 * 1024) };
    const path = archiveOf(dir, [padding, manifest, container, guest]);
    expect(readFileSync(path).length).toBeLessThan(64 * 1024);
    const error = await expectRefusal(path, freshStaging(dir), { maxBytes: 1024 * 1024 });
    expect(error.message).toContain("expands past");
  });
});

describe("the staging directory", () => {
  test("must be empty: a planted link is never written through", async () => {
    const staging = freshStaging(dir);
    const victim = join(dir, "victim");
    writeFileSync(victim, "keep");
    Bun.spawnSync(["ln", "-s", victim, join(staging, "disk.qcow2")]);
    const { readArchive } = await import("./archive-read.ts");
    const error = await readArchive(archiveOf(dir, [manifest, container, guest]), staging).catch((caught) => caught);
    expect(String(error.message)).toContain("is not empty");
    expect(readFileSync(victim, "utf8")).toBe("keep");
    expect(existsSync(join(staging, "manifest.json"))).toBe(false);
  });
});
