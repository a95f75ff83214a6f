/** Fixtures for the archive tests: small disks, hand-built tars (hostile ones too), and the checks every refusal must pass. */
import { expect } from "bun:test";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type WriteEntry, writeTar } from "../image/tar-writer.test-helper.ts";
import { type BoxliteError, isBoxliteError } from "../util/errors.ts";
import { readArchive, type ReadArchiveLimits } from "./archive-read.ts";

export function sha256(bytes: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
}

/** A disk-like payload: random halves and zero halves, so it both compresses and does not. */
export function diskBytes(size: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(size);
  for (let offset = 0; offset < size; offset += 8192) crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 4096)));
  return bytes;
}

export interface Payload {
  container: Uint8Array<ArrayBuffer>;
  guest: Uint8Array<ArrayBuffer>;
}

export function payload(containerSize = 40_000, guestSize = 20_000): Payload {
  return { container: diskBytes(containerSize), guest: diskBytes(guestSize) };
}

/** Disk files of the given sizes in `dir`, as the runtime hands them to writeArchive. */
export function writeDiskFiles(dir: string, containerSize: number, guestSize: number): { disks: Payload; paths: { container: string; guest: string } } {
  const disks = payload(containerSize, guestSize);
  const paths = { container: join(dir, "flat-disk.qcow2"), guest: join(dir, "flat-guest.qcow2") };
  writeFileSync(paths.container, disks.container);
  writeFileSync(paths.guest, disks.guest);
  return { disks, paths };
}

/** A manifest as the reference writes it for `disks`, with `overrides` on top. */
export function manifestFor(disks: Payload, overrides: Record<string, unknown> = {}): string {
  return JSON.stringify(
    {
      version: 3,
      box_name: "web",
      image: "alpine:latest",
      box_options: { cpus: 1 },
      guest_disk_checksum: sha256(disks.guest),
      container_disk_checksum: sha256(disks.container),
      exported_at: "2026-07-28T10:00:00+00:00",
      ...overrides,
    },
    null,
    2,
  );
}

/** The members of a well-formed archive of `disks`. */
export function goodEntries(disks: Payload, overrides: Record<string, unknown> = {}): WriteEntry[] {
  return [
    { path: "manifest.json", data: manifestFor(disks, overrides) },
    { path: "disk.qcow2", data: disks.container },
    { path: "guest-rootfs.qcow2", data: disks.guest },
  ];
}

/** Writes `entries` as a tar, zstd-compressed unless `plain`, into `dir`; returns the path. */
export function archiveOf(dir: string, entries: WriteEntry[], options: { plain?: boolean; name?: string } = {}): string {
  const tar = writeTar(entries);
  const path = join(dir, options.name ?? `${crypto.randomUUID()}.boxlite`);
  writeFileSync(path, options.plain ? tar : Bun.zstdCompressSync(tar, { level: 3 }));
  return path;
}

let stagingCount = 0;

/** A fresh, empty staging directory inside `dir`. */
export function freshStaging(dir: string): string {
  const staging = join(dir, `staging-${stagingCount++}`);
  mkdirSync(staging);
  return staging;
}

/** Reads `archive` expecting a refusal; checks it is a BoxliteError and that the staging directory is left empty. */
export async function expectRefusal(archive: string, staging: string, limits?: ReadArchiveLimits): Promise<BoxliteError> {
  let caught: unknown;
  try {
    await readArchive(archive, staging, limits);
  } catch (error) {
    caught = error;
  }
  if (!isBoxliteError(caught)) throw new Error(`expected a BoxliteError, got ${caught === undefined ? "success" : String(caught)}`);
  expect(existsSync(staging)).toBe(true);
  expect(readdirSync(staging)).toEqual([]);
  return caught;
}
