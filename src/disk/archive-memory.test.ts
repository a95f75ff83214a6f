/** A suspended box's memory in an archive (v6): written with its checksum, read back, and refused when it does not match. */
import { afterAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TempDirs } from "../../test/helpers/temp.ts";
import { archiveOf, diskBytes, expectRefusal, freshStaging, goodEntries, payload, sha256, writeDiskFiles } from "./archive-fixture.test-helper.ts";
import { readArchive, writeArchive } from "./archive.ts";

const temps = new TempDirs();
const dir = temps.make("boxlite-archive-memory-");
const { paths } = writeDiskFiles(dir, 256 * 1024, 0);
const state = diskBytes(300_000);
const statePath = join(dir, "state");
writeFileSync(statePath, state);
const memoryManifest = { format: 1, vmm: "qemu", state_bytes: state.length };
afterAll(() => temps.removeAll());

describe("an export of a suspended box", () => {
  test("carries memory.state and its manifest, stamped v6, and reads back whole", async () => {
    const dest = join(dir, "suspended.boxlite");
    const written = await writeArchive({
      dest,
      image: "alpine",
      boxOptions: {},
      disks: { container: paths.container },
      memory: { state: statePath, manifest: memoryManifest, checksum: sha256(state) },
    });
    expect(written.manifest).toMatchObject({ version: 6, memory: memoryManifest, memory_checksum: sha256(state) });
    const listing = Bun.spawnSync(["tar", "--zstd", "-tf", dest]);
    expect(listing.stdout.toString().trim().split("\n")).toEqual(["manifest.json", "disk.qcow2", "memory.state"]);
    const staging = freshStaging(dir);
    const read = await readArchive(dest, staging);
    expect(read.manifest.memory).toEqual(memoryManifest);
    expect(sha256(readFileSync(read.memoryState ?? ""))).toBe(sha256(state));
    expect(readdirSync(staging).sort()).toEqual(["disk.qcow2", "manifest.json", "memory.state"]);
  });

  test("is not written when the state does not match the checksum its box recorded", async () => {
    const dest = join(dir, "changed.boxlite");
    const attempt = writeArchive({
      dest,
      image: "alpine",
      disks: { container: paths.container },
      memory: { state: statePath, manifest: memoryManifest, checksum: `sha256:${"0".repeat(64)}` },
    });
    expect(attempt).rejects.toThrow("does not match its checksum");
    await attempt.catch(() => {});
    expect(readdirSync(dir).filter((name) => name.startsWith("changed"))).toEqual([]);
  });
});

describe("an archive's memory, untrusted", () => {
  const small = payload();
  const withMemory = { version: 6, memory: memoryManifest, memory_checksum: sha256(state) };

  test("is read when the manifest describes it", async () => {
    const archive = archiveOf(dir, [...goodEntries(small, withMemory), { path: "memory.state", data: state }]);
    expect((await readArchive(archive, freshStaging(dir))).memoryState).toEndWith("memory.state");
  });

  test("is refused when its bytes are not the ones the manifest names", async () => {
    const tampered = state.slice();
    tampered[1000] = (tampered[1000] ?? 0) ^ 1;
    const archive = archiveOf(dir, [...goodEntries(small, withMemory), { path: "memory.state", data: tampered }]);
    expect((await expectRefusal(archive, freshStaging(dir))).message).toContain("memory.state does not match its checksum");
  });

  test("is refused without a manifest that describes it, and missing when one does", async () => {
    const stray = archiveOf(dir, [...goodEntries(small), { path: "memory.state", data: state }]);
    expect((await expectRefusal(stray, freshStaging(dir))).message).toContain('carries memory.state but its manifest has no "memory"');
    const missing = archiveOf(dir, goodEntries(small, withMemory));
    expect((await expectRefusal(missing, freshStaging(dir))).message).toContain("lacks memory.state");
  });
});
