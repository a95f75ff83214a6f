/**
 * Export and import end to end: a running box exported (paused only for the flatten),
 * imported into another home and booted with its files and options; and what an import
 * must refuse, each leaving no box, no disk and no staging behind.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, readdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { loadConfig } from "../../src/config/config.ts";
import { Boxlite } from "../../src/runtime/boxlite.ts";
import { runCli } from "../helpers/cli.ts";
import { shIn } from "../helpers/boxes.ts";
import { seededRandom } from "../helpers/random.ts";
import { TempDirs } from "../helpers/temp.ts";
import { BoxliteError } from "../../src/util/errors.ts";

const temp = new TempDirs();
let work: string;
let archive: string;
let other: Boxlite;
let otherHome: string;

/** What a failed import may not leave in a home: boxes, box directories, staging. */
async function expectNothingMade(runtime: Boxlite, home: string, boxesBefore: number): Promise<void> {
  expect((await runtime.listBoxes({ all: true })).length).toBe(boxesBefore);
  expect(readdirSync(join(home, "boxes")).length).toBe(boxesBefore);
  expect(readdirSync(join(home, "tmp")).filter((name) => name.startsWith("import-"))).toEqual([]);
}

beforeAll(async () => {
  work = temp.make("boxlite-archive-");
  otherHome = join(work, "other-home");
  other = new Boxlite(loadConfig({ home: otherHome }));
  await other.listBoxes();
});

afterAll(async () => {
  await runCli(["rm", "-f", "e2e-exported"]);
  await runCli(["rm", "-a", "-f"], { env: { BOXLITE_HOME: otherHome } });
  temp.removeAll();
});

test("a running box exports; the archive imports in another home and boots with its files and options", async () => {
  expect((await runCli(["run", "-d", "--name", "e2e-exported", "-e", "GREETING=hello", "--", "sleep", "3600"])).code).toBe(0);
  await shIn("e2e-exported", "echo kept > /kept.txt; mkdir -p /data; seq 1 1000 > /data/numbers");
  const exported = await runCli(["export", "e2e-exported", "-o", join(work, "box.boxlite")]);
  expect(exported.code, exported.stderr).toBe(0);
  archive = exported.stdout.trim();
  expect(archive).toBe(join(work, "box.boxlite"));
  // Still running, and still writable, after the export.
  expect(await shIn("e2e-exported", "echo later > /later.txt; cat /later.txt")).toBe("later");
  const listing = Bun.spawnSync(["tar", "--zstd", "-tf", archive]).stdout.toString().trim().split("\n");
  expect(listing).toEqual(["manifest.json", "disk.qcow2"]);

  const id = await other.importBox(archive, { name: "moved" });
  const view = await other.getBox(id);
  expect(view.name).toBe("moved");
  expect(view.status).toBe("stopped");
  const env = { BOXLITE_HOME: otherHome };
  expect((await runCli(["start", "moved"], { env })).code).toBe(0);
  expect(await shIn("moved", "cat /kept.txt; wc -l < /data/numbers; echo $GREETING", env)).toBe("kept\n1000\nhello");
  // Written after the export: not in the archive.
  expect((await runCli(["exec", "moved", "--", "cat", "/later.txt"], { env })).code).not.toBe(0);
  expect((await runCli(["stop", "moved"], { env })).code).toBe(0);
});

describe("imports that must be refused leave nothing behind", () => {
  test("under a name that is taken", async () => {
    const before = (await other.listBoxes({ all: true })).length;
    await expect(other.importBox(archive, { name: "moved" })).rejects.toThrow(/already exists/);
    await expectNothingMade(other, otherHome, before);
  });

  test("a truncated archive", async () => {
    const cut = join(work, "cut.boxlite");
    copyFileSync(archive, cut);
    truncateSync(cut, Math.floor(Bun.file(archive).size / 2));
    const before = (await other.listBoxes({ all: true })).length;
    await expect(other.importBox(cut)).rejects.toThrow(/archive/);
    await expectNothingMade(other, otherHome, before);
  });

  test("an archive whose disk names a backing file on the host", async () => {
    const evil = join(work, "evil");
    Bun.spawnSync(["mkdir", "-p", evil]);
    const disk = join(evil, "disk.qcow2");
    expect(Bun.spawnSync(["qemu-img", "create", "-q", "-f", "qcow2", "-b", "/etc/passwd", "-F", "raw", disk]).exitCode).toBe(0);
    const checksum = new Bun.CryptoHasher("sha256").update(await Bun.file(disk).bytes()).digest("hex");
    writeFileSync(
      join(evil, "manifest.json"),
      JSON.stringify({
        version: 2,
        box_name: null,
        image: "alpine",
        guest_disk_checksum: "",
        container_disk_checksum: `sha256:${checksum}`,
        exported_at: "2026-01-01T00:00:00+00:00",
      }),
    );
    const path = join(work, "evil.boxlite");
    expect(Bun.spawnSync(["tar", "--zstd", "-cf", path, "-C", evil, "manifest.json", "disk.qcow2"]).exitCode).toBe(0);
    const before = (await other.listBoxes({ all: true })).length;
    await expect(other.importBox(path)).rejects.toThrow(/backing file/);
    await expectNothingMade(other, otherHome, before);
  });

  test("over REST (untrusted), an archive of a box with a host volume", async () => {
    const shared = join(work, "shared");
    Bun.spawnSync(["mkdir", "-p", shared]);
    const source = await other.create({ name: "with-volume", volumes: [{ hostPath: shared, guestPath: "/shared", readOnly: false }] });
    const withVolume = await other.exportBox(source, join(work, "volume.boxlite"));
    const before = (await other.listBoxes({ all: true })).length;
    await expect(other.importBox(withVolume, { untrusted: true })).rejects.toThrow(/volumes/);
    await expectNothingMade(other, otherHome, before);
    // Trusted (the local CLI), the same archive imports: the host path exists here.
    expect(await other.importBox(withVolume, { name: "with-volume-2" })).toBeTruthy();
  });
});

test("import survives 60 mutated archives: each imports whole or is refused with a BoxliteError, leaving nothing", async () => {
  const seed = Date.now() % 100_000;
  const random = seededRandom(seed);
  const source = await other.create({ name: "fuzz-source" });
  const good = await Bun.file(await other.exportBox(source, join(work, "fuzz.boxlite"))).bytes();
  for (let round = 0; round < 60; round++) {
    const bytes = good.slice();
    const kind = Math.floor(random() * 3);
    for (let i = 0; kind === 0 && i < 1 + Math.floor(random() * 8); i++) {
      const at = Math.floor(random() * bytes.length);
      bytes[at] = (bytes[at] ?? 0) ^ (1 << Math.floor(random() * 8));
    }
    const mutated = kind === 1 ? bytes.subarray(0, Math.floor(random() * bytes.length)) : bytes;
    const path = join(work, `fuzz-${round}.boxlite`);
    await Bun.write(
      path,
      kind === 2 ? Buffer.concat([bytes.subarray(0, 200), Buffer.from(crypto.getRandomValues(new Uint8Array(64))), bytes.subarray(200)]) : mutated,
    );
    const before = (await other.listBoxes({ all: true })).length;
    try {
      const id = await other.importBox(path);
      const check = Bun.spawnSync(["qemu-img", "check", "-U", join(otherHome, "boxes", id, "disks", "disk.qcow2")]);
      expect(check.exitCode, `seed ${seed} round ${round}`).toBe(0);
      await other.removeBox(id);
    } catch (error) {
      expect(error instanceof BoxliteError, `seed ${seed} round ${round}: ${String(error)}`).toBe(true);
      await expectNothingMade(other, otherHome, before);
    }
  }
});
