/**
 * A minimal tar reader (POSIX ustar, pax `path`/`linkpath`/`size`, GNU long names)
 * over an in-memory archive. It yields entries; applying them safely is unpack.ts's job.
 */
import { BoxliteError } from "../util/errors.ts";

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "other";

export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkTarget: string;
  data: Uint8Array;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function field(block: Uint8Array, offset: number, length: number): string {
  const bytes = block.subarray(offset, offset + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Numeric fields are octal text, or base-256 big-endian when the high bit is set (GNU). */
function numeric(block: Uint8Array, offset: number, length: number): number {
  if ((block[offset] ?? 0) & 0x80) {
    let value = (block[offset] ?? 0) & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + (block[offset + i] ?? 0);
    return value;
  }
  const text = field(block, offset, length).trim();
  return text === "" ? 0 : Number.parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === numeric(block, 148, 8);
}

/** Parses pax extended header records: "<len> <key>=<value>\n". */
function parsePax(data: Uint8Array): Map<string, string> {
  const records = new Map<string, string>();
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = Number.parseInt(decoder.decode(data.subarray(offset, space)), 10);
    if (space < 0 || !Number.isFinite(length) || length <= 0) break;
    const record = decoder.decode(data.subarray(space + 1, offset + length - 1));
    const eq = record.indexOf("=");
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    offset += length;
  }
  return records;
}

function entryType(flag: string): TarEntryType {
  if (flag === "0" || flag === "" || flag === "7") return "file";
  if (flag === "5") return "directory";
  if (flag === "2") return "symlink";
  if (flag === "1") return "hardlink";
  return "other";
}

export function* readTar(archive: Uint8Array, source: string): Generator<TarEntry> {
  let offset = 0;
  let pax = new Map<string, string>();
  let longName: string | undefined;
  let longLink: string | undefined;
  while (offset + BLOCK <= archive.length) {
    const header = archive.subarray(offset, offset + BLOCK);
    if (header.every((byte) => byte === 0)) return;
    if (!checksumOk(header)) throw new BoxliteError("invalid_argument", `${source}: corrupt tar header at byte ${offset}`);
    const size = Number(pax.get("size") ?? numeric(header, 124, 12));
    const dataStart = offset + BLOCK;
    if (dataStart + size > archive.length) throw new BoxliteError("invalid_argument", `${source}: tar entry at byte ${offset} is truncated`);
    const data = archive.subarray(dataStart, dataStart + size);
    offset = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    const flag = field(header, 156, 1);
    if (flag === "x") { pax = parsePax(data); continue; }
    if (flag === "g") continue;
    if (flag === "L") { longName = field(data, 0, data.length); continue; }
    if (flag === "K") { longLink = field(data, 0, data.length); continue; }
    const prefix = field(header, 345, 155);
    const name = field(header, 0, 100);
    yield {
      path: pax.get("path") ?? longName ?? (prefix ? `${prefix}/${name}` : name),
      type: entryType(flag),
      mode: numeric(header, 100, 8) & 0o7777,
      uid: Number(pax.get("uid") ?? numeric(header, 108, 8)),
      gid: Number(pax.get("gid") ?? numeric(header, 116, 8)),
      mtime: Number(pax.get("mtime") ?? numeric(header, 136, 12)),
      linkTarget: pax.get("linkpath") ?? longLink ?? field(header, 157, 100),
      data,
    };
    pax = new Map();
    longName = undefined;
    longLink = undefined;
  }
}
