/** Archives whose disks are GNU sparse members, built by GNU tar itself, and the header surgery the hostile tests do on them. */
import { expect } from "bun:test";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { TAR_BLOCK } from "../image/tar-header.ts";

export const MiB = 1024 * 1024;

export interface SparseDisks {
  dir: string;
  containerSum: string;
  guestSum: string;
  containerSize: number;
  guestSize: number;
}

function run(argv: string[]): void {
  const result = Bun.spawnSync(argv, { stderr: "pipe" });
  if (result.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${result.stderr.toString()}`);
}

function fileSum(path: string): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(readFileSync(path)).digest("hex")}`;
}

/** A sparse file made as a disk would be: `truncate`, then random writes at the given MiB offsets (each `lengthKiB` long). */
export function sparseFile(path: string, size: number, writes: { atMiB: number; lengthKiB: number }[]): void {
  run(["truncate", "-s", String(size), path]);
  for (const { atMiB, lengthKiB } of writes)
    run(["dd", "if=/dev/urandom", `of=${path}`, "conv=notrunc", "bs=1024", `seek=${atMiB * 1024}`, `count=${lengthKiB}`, "status=none"]);
}

/** A directory holding manifest.json and two sparse disks, as an export would stage it. */
export function sparseDisks(dir: string, containerSize = 64 * MiB, guestSize = 32 * MiB): SparseDisks {
  mkdirSync(dir, { recursive: true });
  // Data at the start, every 2 MiB (past the header's four entries: extension blocks) and at
  // the very end; the guest disk ends in a hole. A file may end either way.
  const scattered = Array.from({ length: Math.floor(containerSize / MiB / 2) - 1 }, (_, i) => ({ atMiB: 2 * i, lengthKiB: 100 + i }));
  sparseFile(join(dir, "disk.qcow2"), containerSize, [...scattered, { atMiB: containerSize / MiB - 1, lengthKiB: 1024 }]);
  sparseFile(join(dir, "guest-rootfs.qcow2"), guestSize, [
    { atMiB: 1, lengthKiB: 7 },
    { atMiB: 9, lengthKiB: 64 },
  ]);
  const disks = {
    dir,
    containerSum: fileSum(join(dir, "disk.qcow2")),
    guestSum: fileSum(join(dir, "guest-rootfs.qcow2")),
    containerSize,
    guestSize,
  };
  const manifest = {
    version: 2,
    box_name: "web",
    image: "alpine:latest",
    guest_disk_checksum: disks.guestSum,
    container_disk_checksum: disks.containerSum,
    exported_at: "2026-07-28T10:00:00+00:00",
  };
  writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return disks;
}

/** GNU tar's archive of `disks` (plain) in `format`: "gnu" writes old-GNU `S` members, "posix-0.0" etc. pax sparse ones. */
export function gnuSparseTar(disks: SparseDisks, format: "gnu" | "posix-0.0" | "posix-0.1" | "posix-1.0", out: string): Uint8Array<ArrayBuffer> {
  const [tarFormat, version] = format.split("-");
  const flags = version === undefined ? [] : [`--sparse-version=${version}`];
  run(["tar", `--format=${tarFormat}`, "--sparse", ...flags, "-C", disks.dir, "-cf", out, "manifest.json", "disk.qcow2", "guest-rootfs.qcow2"]);
  return new Uint8Array(readFileSync(out));
}

/** Compresses a tar with the zstd command (the reference's level) into `path`. */
export function zstdFile(tar: Uint8Array, path: string): string {
  writeFileSync(`${path}.tar`, tar);
  run(["zstd", "-q", "-3", "-f", `${path}.tar`, "-o", path]);
  return path;
}

/** The offset of the header block of the member named `name` (typeflag `type`). */
export function headerOffset(tar: Uint8Array, name: string, type = "S"): number {
  const encoded = new TextEncoder().encode(`${name}\0`);
  for (let at = 0; at + TAR_BLOCK <= tar.length; at += TAR_BLOCK) {
    if (tar[at + 156] === type.charCodeAt(0) && encoded.every((byte, i) => tar[at + i] === byte)) return at;
  }
  throw new Error(`no ${type} member ${name}`);
}

/** Writes `value` as a 12-byte octal field (11 digits and a NUL) at `offset`. */
export function setOctal12(block: Uint8Array, offset: number, value: number): void {
  block.set(new TextEncoder().encode(`${value.toString(8).padStart(11, "0")}\0`), offset);
}

/** Writes `value` as a 12-byte GNU base-256 field at `offset`. */
export function setBase256(block: Uint8Array, offset: number, value: number): void {
  let rest = value;
  for (let i = offset + 11; i > offset; i--) {
    block[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  block[offset] = 0x80;
}

/** Recomputes a header block's checksum after surgery. */
export function fixHeaderChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  const sum = block.reduce((total, byte) => total + byte, 0);
  block.set(new TextEncoder().encode(`${sum.toString(8).padStart(6, "0")}\0 `), 148);
}

/** Allocated bytes of `path` against its length: a sparse extraction allocates a small part. */
export function expectSparse(path: string, length: number, atMostAllocated: number): void {
  const stat = Bun.spawnSync(["stat", "-c", "%b %B %s", path]).stdout.toString().trim().split(" ").map(Number);
  const [blocks = 0, blockSize = 0, size = 0] = stat;
  expect(size).toBe(length);
  expect(blocks * blockSize).toBeLessThanOrEqual(atMostAllocated);
}
