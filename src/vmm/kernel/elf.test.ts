import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { wrapKernelAsElf } from "./elf.ts";

const image = new Uint8Array(10_000).map((_, i) => i % 256);
const elf = wrapKernelAsElf({ bytes: image, loadAddress: 0x1000000n });
const view = new DataView(elf.buffer);

test("writes an x86-64 ELF executable with two program headers", () => {
  expect([...elf.subarray(0, 4)]).toEqual([0x7f, 0x45, 0x4c, 0x46]);
  expect(elf[4]).toBe(2); // 64-bit
  expect(view.getUint16(16, true)).toBe(2); // ET_EXEC
  expect(view.getUint16(18, true)).toBe(62); // EM_X86_64
  expect(view.getUint16(56, true)).toBe(2);
});

test("loads the whole image at its physical address from a page-aligned offset", () => {
  const ph = 64;
  expect(view.getUint32(ph, true)).toBe(1); // PT_LOAD
  const offset = Number(view.getBigUint64(ph + 8, true));
  expect(offset % 4096).toBe(0);
  expect(view.getBigUint64(ph + 24, true)).toBe(0x1000000n);
  expect(Number(view.getBigUint64(ph + 32, true))).toBe(image.length);
  expect(elf.subarray(offset)).toEqual(image);
});

test("carries the Xen PVH entry note that QEMU boots through, as readelf sees it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "elf-test-"));
  try {
    const path = join(dir, "kernel.elf");
    await Bun.write(path, elf);
    const out = Bun.spawnSync(["readelf", "-n", "-l", "-W", path]).stdout.toString();
    expect(out).toContain("Xen");
    expect(out).toMatch(/Unknown note type: \(0x00000012\)|XEN_ELFNOTE_PHYS32_ENTRY/);
    expect(out).toMatch(/description data: 00 00 00 01 00 00 00 00/);
    expect(out).toMatch(/LOAD\s+0x001000 0xffffffff81000000 0x0000000001000000 0x002710 0x002710 RWE/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
