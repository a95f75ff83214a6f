import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { rejectionOf } from "../../test/helpers/errors.ts";
import { diskBytes, freshStaging, sha256, writeDiskFiles } from "./archive-fixture.test-helper.ts";
import { readArchive, writeArchive } from "./archive.ts";
import { createOverlay, flattenedSize } from "./qcow2.ts";

const temps = new TempDirs();
const dir = temps.make("boxlite-archive-chain-");
const { paths } = writeDiskFiles(dir, 3 * 1024 * 1024 + 17, 1024 * 1024 + 3);
afterAll(() => temps.removeAll());

// A qcow2 overlay on a raw base: what a box's disk chain is, in small.
writeFileSync(join(dir, "base.raw"), diskBytes(4 * 1024 * 1024 + 512));
const top = join(dir, "top.qcow2");
createOverlay({ path: top, backingFile: "base.raw", backingFormat: "raw" });

describe("a container disk given as a backing chain", () => {
  test("is archived flattened, hashed as the bytes the archive holds, and reported packed before the archive is done", async () => {
    const dest = join(dir, "chain.boxlite");
    const events: string[] = [];
    const size = flattenedSize(top);
    const written = await writeArchive({
      dest,
      image: "alpine:3.20",
      disks: { container: { chain: top, size, packed: () => events.push("packed") }, guest: paths.guest },
      hooks: { point: (name) => events.push(name) },
    });
    expect(events.indexOf("packed")).toBeGreaterThanOrEqual(0);
    expect(events.indexOf("packed")).toBeLessThan(events.indexOf("renamed"));
    const read = await readArchive(dest, freshStaging(dir));
    const disk = readFileSync(read.containerDisk);
    expect(disk.length).toBe(size);
    expect(written.manifest.container_disk_checksum).toBe(sha256(disk));
    const compare = Bun.spawnSync(["qemu-img", "compare", "-q", top, read.containerDisk]);
    expect(compare.stderr.toString()).toBe("");
    expect(compare.exitCode).toBe(0);
    const listing = Bun.spawnSync(["tar", "--zstd", "-tvf", dest]);
    expect(listing.exitCode).toBe(0);
    expect(listing.stdout.toString().trim().split("\n")[1]).toContain(` ${size} `);
  });

  test("a size other than the chain's plan fails and leaves neither dest nor a temporary file", async () => {
    const dest = join(dir, "stale.boxlite");
    const error = await rejectionOf(writeArchive({ dest, image: "alpine:3.20", disks: { container: { chain: top, size: flattenedSize(top) + 65536 } } }));
    expect(error.code).toBe("disk");
    expect(error.message).toContain("changed");
    expect(readdirSync(dir).filter((name) => name.startsWith("stale.boxlite"))).toEqual([]);
  });
});
