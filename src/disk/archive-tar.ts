/**
 * The few tar headers an archive needs: one regular-file header per member (POSIX ustar),
 * preceded by a pax `size` record when the size does not fit ustar's 11 octal digits.
 */
import { TAR_BLOCK } from "../image/tar-header.ts";

const encoder = new TextEncoder();

/** The largest size ustar's 12-byte octal field holds: 8 GiB − 1. */
export const USTAR_MAX_SIZE = 8 ** 11 - 1;

/** Zero bytes that pad `size` bytes of content to the next block. */
export function tarPadding(size: number): number {
  return (TAR_BLOCK - (size % TAR_BLOCK)) % TAR_BLOCK;
}

/** The two zero blocks that end an archive. */
export const TAR_END = new Uint8Array(2 * TAR_BLOCK);

function writeOctal(block: Uint8Array, offset: number, length: number, value: number): void {
  block.set(encoder.encode(value.toString(8).padStart(length - 1, "0")), offset);
}

/** GNU base-256: the high bit of the first byte set, the value big-endian in the rest. */
function writeBase256(block: Uint8Array, offset: number, length: number, value: number): void {
  let rest = value;
  for (let i = offset + length - 1; i > offset; i--) {
    block[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  block[offset] = 0x80;
}

function setChecksum(block: Uint8Array): void {
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.set(encoder.encode(`${sum.toString(8).padStart(6, "0")}\u0000 `), 148);
}

function ustarHeader(name: string, type: "0" | "x", size: number, mtime: number): Uint8Array {
  const block = new Uint8Array(TAR_BLOCK);
  block.set(encoder.encode(name), 0);
  writeOctal(block, 100, 8, 0o644);
  writeOctal(block, 108, 8, 0);
  writeOctal(block, 116, 8, 0);
  // Past 8 GiB the pax record before this header is the size readers use; base-256 here
  // serves those that read only the header (GNU tar, libarchive and bsdtar read both).
  if (size > USTAR_MAX_SIZE) writeBase256(block, 124, 12, size);
  else writeOctal(block, 124, 12, size);
  writeOctal(block, 136, 12, mtime);
  block[156] = type.charCodeAt(0);
  block.set(encoder.encode("ustar\u000000"), 257);
  block.set(encoder.encode("root"), 265);
  block.set(encoder.encode("root"), 297);
  setChecksum(block);
  return block;
}

/** One pax record, "<length> <key>=<value>\n", whose length counts itself. */
function paxRecord(key: string, value: string): Uint8Array {
  const body = ` ${key}=${value}\n`;
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return encoder.encode(`${length}${body}`);
}

/**
 * The header blocks of a regular file `name` (a short ASCII name) holding `size` bytes,
 * modified at `mtime` (seconds). The content and its padding follow them.
 */
export function fileHeader(name: string, size: number, mtime: number): Uint8Array {
  if (name.length === 0 || name.length > 99 || !/^[\x21-\x7e]+$/.test(name)) throw new RangeError(`tar member name ${JSON.stringify(name)}`);
  if (!Number.isSafeInteger(size) || size < 0) throw new RangeError(`tar member size ${size}`);
  const header = ustarHeader(name, "0", size, mtime);
  if (size <= USTAR_MAX_SIZE) return header;
  const record = paxRecord("size", String(size));
  const pax = new Uint8Array(TAR_BLOCK + record.length + tarPadding(record.length));
  pax.set(ustarHeader(`PaxHeaders/${name}`.slice(0, 99), "x", record.length, mtime), 0);
  pax.set(record, TAR_BLOCK);
  return Buffer.concat([pax, header]);
}
