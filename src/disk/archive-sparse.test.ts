/**
 * Archives whose disks are GNU sparse members, as the reference (tar-rs) writes them: read
 * whole and still sparse from every format GNU tar writes, and every damaged sparse map
 * refused with a clear error and nothing left in the staging directory.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { MAX_SPARSE_EXTENSION_BLOCKS } from "../image/tar-sparse.ts";
import { expectRefusal, freshStaging, sha256 } from "./archive-fixture.test-helper.ts";
import { readArchive } from "./archive-read.ts";
import {
  expectSparse,
  fixHeaderChecksum,
  gnuSparseTar,
  headerOffset,
  MiB,
  type SparseDisks,
  setBase256,
  setOctal12,
  sparseDisks,
  zstdFile,
} from "./archive-sparse.test-helper.ts";

const temps = new TempDirs();
let dir = "";
let disks: SparseDisks;
let gnu: Uint8Array<ArrayBuffer>;
beforeAll(() => {
  dir = temps.make("boxlite-archive-sparse-");
  disks = sparseDisks(join(dir, "src"));
  gnu = gnuSparseTar(disks, "gnu", join(dir, "gnu.tar"));
});
afterAll(() => temps.removeAll());

let count = 0;
const archivePath = () => join(dir, `case-${count++}.boxlite`);

async function expectWhole(archive: string): Promise<void> {
  const read = await readArchive(archive, freshStaging(dir));
  expect(sha256(readFileSync(read.containerDisk))).toBe(disks.containerSum);
  expect(sha256(readFileSync(read.guestDisk ?? ""))).toBe(disks.guestSum);
  // The container disk holds about 5 MiB of data in 64 MiB, the guest disk 71 KiB in 32 MiB.
  expectSparse(read.containerDisk, disks.containerSize, 8 * MiB);
  expectSparse(read.guestDisk ?? "", disks.guestSize, MiB);
}

describe("sparse archives GNU tar writes", () => {
  test("old GNU sparse members (what tar-rs writes), zstd-compressed, are read whole and stay sparse", async () => {
    await expectWhole(zstdFile(gnu, archivePath()));
  });

  test("old GNU sparse members in a plain tar are read whole", async () => {
    const path = archivePath();
    writeFileSync(path, gnu);
    await expectWhole(path);
  });

  test.each(["posix-0.0", "posix-0.1", "posix-1.0"] as const)("pax sparse format %s is read whole and stays sparse", async (format) => {
    await expectWhole(zstdFile(gnuSparseTar(disks, format, join(dir, `${format}.tar`)), archivePath()));
  });

  test("a real size in base-256 is read", async () => {
    const tar = new Uint8Array(gnu);
    const at = headerOffset(tar, "disk.qcow2");
    const header = tar.subarray(at, at + 512);
    setBase256(header, 483, disks.containerSize);
    fixHeaderChecksum(header);
    await expectWhole(zstdFile(tar, archivePath()));
  });
});

/**
 * The GNU archive with the disk.qcow2 header changed by `edit` (and the archive then rebuilt
 * by `rebuild`, given the header's offset), zstd-compressed; the refusal's "code: message".
 */
async function refuseEdited(edit: (header: Uint8Array) => void, rebuild?: (tar: Uint8Array, at: number) => Uint8Array) {
  const tar = new Uint8Array(gnu);
  const at = headerOffset(tar, "disk.qcow2");
  const header = tar.subarray(at, at + 512);
  edit(header);
  fixHeaderChecksum(header);
  const path = archivePath();
  writeFileSync(path, Bun.zstdCompressSync(rebuild ? rebuild(tar, at) : tar, { level: 3 }));
  const error = await expectRefusal(path, freshStaging(dir));
  return `${error.code}: ${error.message}`;
}

/** The map entry `i` of the header (0–3): 12-byte offset then 12-byte length, from byte 386. */
const entry = (i: number) => 386 + 24 * i;

describe("hostile sparse maps", () => {
  test("refuses overlapping segments", async () => {
    const text = await refuseEdited((header) => setOctal12(header, entry(1), 1000));
    expect(text).toStartWith("invalid_argument: ");
    expect(text).toContain('sparse tar entry "disk.qcow2": segment 1 at 1000 overlaps or precedes the one before it');
  });

  test("refuses segments out of order", async () => {
    const text = await refuseEdited((header) => {
      const first = header.slice(entry(1), entry(2));
      header.copyWithin(entry(1), entry(2), entry(3));
      header.set(first, entry(2));
    });
    expect(text).toContain("segment 2 at 2097152 overlaps or precedes the one before it");
  });

  test("refuses a segment past the real size", async () => {
    expect(await refuseEdited((header) => setOctal12(header, 483, 3 * MiB))).toContain("runs past its real size 3145728");
  });

  test("refuses segments that do not add up to the member's data", async () => {
    expect(await refuseEdited((header) => setOctal12(header, entry(0) + 12, 100 * 1024 + 512))).toContain("but the member carries");
  });

  test("refuses a map entry that is not a number", async () => {
    expect(await refuseEdited((header) => header.set(new TextEncoder().encode("zzzzzzzzzzz"), entry(2)))).toContain("its segment offset is not a number");
  });

  test("refuses a real size past the default limit before writing anything", async () => {
    expect(await refuseEdited((header) => setBase256(header, 483, 300 * 1024 ** 3))).toMatch(/its members claim more than \d+ bytes/);
  });

  test("counts the real size, not the data, against the limit", async () => {
    // About 5 MiB of data, 64 MiB once expanded: a limit of 40 MiB refuses it.
    const path = archivePath();
    writeFileSync(path, Bun.zstdCompressSync(gnu));
    const error = await expectRefusal(path, freshStaging(dir), { maxBytes: 40 * MiB });
    expect(error.message).toContain(`its members claim more than ${40 * MiB} bytes`);
  });

  test("refuses a map that runs on through endless extension blocks", async () => {
    const text = await refuseEdited(
      (header) => {
        header[482] = 1;
      },
      (tar, at) => {
        const blocks = new Uint8Array((MAX_SPARSE_EXTENSION_BLOCKS + 1) * 512);
        for (let i = 504; i < blocks.length; i += 512) blocks[i] = 1;
        return Buffer.concat([tar.subarray(0, at + 512), blocks, new Uint8Array(1024)]);
      },
    );
    expect(text).toContain(`its map runs on past ${MAX_SPARSE_EXTENSION_BLOCKS} extension blocks`);
  });

  test("refuses an archive that ends inside the sparse map", async () => {
    const at = headerOffset(gnu, "disk.qcow2");
    const path = archivePath();
    writeFileSync(path, gnu.subarray(0, at + 512 + 256));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("the archive ends inside its sparse map");
  });

  test("refuses a sparse manifest", async () => {
    const tar = new Uint8Array(gnu);
    const at = headerOffset(tar, "manifest.json", "0");
    const header = tar.subarray(at, at + 512);
    const size = Number.parseInt(new TextDecoder().decode(header.subarray(124, 135)), 8);
    header[156] = "S".charCodeAt(0);
    setOctal12(header, entry(0), 0);
    setOctal12(header, entry(0) + 12, size);
    setOctal12(header, 483, size);
    fixHeaderChecksum(header);
    const path = archivePath();
    writeFileSync(path, Bun.zstdCompressSync(tar));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("manifest.json is a sparse file");
  });

  test("refuses a pax 1.0 map claiming more segments than allowed", async () => {
    const tar = gnuSparseTar(disks, "posix-1.0", join(dir, "hostile-1.0.tar"));
    const text = new TextDecoder("latin1").decode(tar);
    const mapAt = text.indexOf("\n0\n102400\n") - 2; // "NN\n0\n102400\n…": the count, then the first segment.
    const block = new Uint8Array(512);
    block.set(new TextEncoder().encode("99999999999\n"));
    tar.set(block, mapAt - (mapAt % 512));
    const path = archivePath();
    writeFileSync(path, Bun.zstdCompressSync(tar));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("its map holds 99999999999 segments");
  });

  test("refuses a pax sparse format it does not know", async () => {
    const tar = gnuSparseTar(disks, "posix-1.0", join(dir, "hostile-2.0.tar"));
    const at = Buffer.from(tar).indexOf("GNU.sparse.major=1");
    tar.set(new TextEncoder().encode("GNU.sparse.major=2"), at);
    const path = archivePath();
    writeFileSync(path, Bun.zstdCompressSync(tar));
    expect((await expectRefusal(path, freshStaging(dir))).message).toContain("GNU sparse format 2.0 is not one this reader knows");
  });
});
