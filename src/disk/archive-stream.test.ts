import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { rejectionOf } from "../../test/helpers/errors.ts";
import { freshStaging, sha256, writeDiskFiles } from "./archive-fixture.test-helper.ts";
import { readArchive, writeArchive } from "./archive.ts";

const temps = new TempDirs();
const dir = temps.make("boxlite-archive-stream-");
const { disks, paths } = writeDiskFiles(dir, 3 * 1024 * 1024 + 17, 1024 * 1024 + 3);
afterAll(() => temps.removeAll());

/** `bytes` in uneven chunks, yielding to the event loop between them as a growing file would. */
async function* chunksOf(bytes: Uint8Array, step = 300_001): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += step) {
    await Bun.sleep(0);
    yield bytes.subarray(at, at + step);
  }
}

const streamed = (dest: string, bytes: Uint8Array, size = bytes.length) =>
  writeArchive({ dest, image: "alpine:3.20", disks: { container: { size, chunks: chunksOf(bytes) }, guest: paths.guest } });

describe("a container disk given as a stream", () => {
  test("archives the same bytes and checksum as the file", async () => {
    const dest = join(dir, "streamed.boxlite");
    const written = await streamed(dest, disks.container);
    expect(written.manifest.container_disk_checksum).toBe(sha256(disks.container));
    const read = await readArchive(dest, freshStaging(dir));
    expect(sha256(readFileSync(read.containerDisk))).toBe(sha256(disks.container));
    const listing = Bun.spawnSync(["tar", "--zstd", "-tvf", dest]);
    expect(listing.exitCode).toBe(0);
    expect(listing.stdout.toString().trim().split("\n")[1]).toContain(` ${disks.container.length} `);
  });

  for (const [what, size] of [
    ["shorter", disks.container.length + 1],
    ["longer", disks.container.length - 1],
  ] as const) {
    test(`a stream ${what} than announced fails and leaves neither dest nor a temporary file`, async () => {
      const dest = join(dir, `${what}.boxlite`);
      const error = await rejectionOf(streamed(dest, disks.container, size));
      expect(error.code).toBe("disk");
      expect(error.message).toContain(`${size} bytes announced`);
      expect(readdirSync(dir).filter((name) => name.startsWith(`${what}.boxlite`))).toEqual([]);
    });
  }
});
