/**
 * A tar reader (POSIX ustar, pax `path`/`linkpath`/`size`/`uid`/`gid`/`mtime` and
 * `SCHILY.xattr.*`, GNU long names and links). It yields entries; applying them safely is
 * unpack.ts's job. `readTar` walks an in-memory archive; `readTarStream` walks chunks as
 * they arrive and holds at most one entry's data at a time.
 */
import { BoxliteError } from "../util/errors.ts";

export type TarEntryType = "file" | "directory" | "symlink" | "hardlink" | "chardev" | "blockdev" | "fifo" | "other";

/** One archive member, with pax and GNU extension headers already folded in. */
export interface TarEntry {
  path: string;
  type: TarEntryType;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  linkTarget: string;
  /** From pax `SCHILY.xattr.<name>` records (what GNU tar and containerd write). */
  xattrs: Record<string, string>;
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

const TYPES: Record<string, TarEntryType> = { "0": "file", "": "file", "7": "file", "5": "directory", "2": "symlink", "1": "hardlink", "3": "chardev", "4": "blockdev", "6": "fifo" };

/** Extension headers seen so far that apply to the next real entry. */
interface PendingHeaders {
  pax: Map<string, string>;
  longName?: string;
  longLink?: string;
}

function collectXattrs(pax: Map<string, string>): Record<string, string> {
  const xattrs: Record<string, string> = {};
  for (const [key, value] of pax) if (key.startsWith("SCHILY.xattr.")) xattrs[key.slice("SCHILY.xattr.".length)] = value;
  return xattrs;
}

/** A pax number overrides the header's; garbage would otherwise reach chown as NaN. */
function readPaxNumber(pax: Map<string, string>, key: string, fallback: number, source: string): number {
  const text = pax.get(key);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new BoxliteError("invalid_argument", `${source}: pax ${key} ${JSON.stringify(text)} is not a number`);
  return value;
}

type Step = { kind: "end" } | { kind: "more"; need: number } | { kind: "skip"; next: number } | { kind: "entry"; entry: TarEntry; next: number };

/** Reads the member at `offset` of `buffer`; "more" means the buffer ends inside it. */
function readMember(buffer: Uint8Array, offset: number, pending: PendingHeaders, source: string): Step {
  if (offset + BLOCK > buffer.length) return { kind: "more", need: offset + BLOCK };
  const header = buffer.subarray(offset, offset + BLOCK);
  if (header.every((byte) => byte === 0)) return { kind: "end" };
  if (!checksumOk(header)) throw new BoxliteError("invalid_argument", `${source}: corrupt tar header at byte ${offset}`);
  const size = Number(pending.pax.get("size") ?? numeric(header, 124, 12));
  if (!Number.isSafeInteger(size) || size < 0) throw new BoxliteError("invalid_argument", `${source}: tar entry at byte ${offset} has a bad size`);
  const dataStart = offset + BLOCK;
  const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  if (next > buffer.length) return { kind: "more", need: next };
  const data = buffer.subarray(dataStart, dataStart + size);
  const flag = field(header, 156, 1);
  if (flag === "x") {
    pending.pax = parsePax(data);
    return { kind: "skip", next };
  }
  if (flag === "g") return { kind: "skip", next };
  if (flag === "L") {
    pending.longName = field(data, 0, data.length);
    return { kind: "skip", next };
  }
  if (flag === "K") {
    pending.longLink = field(data, 0, data.length);
    return { kind: "skip", next };
  }
  const prefix = field(header, 345, 155);
  const name = field(header, 0, 100);
  const { pax } = pending;
  const entry: TarEntry = {
    path: pax.get("path") ?? pending.longName ?? (prefix ? `${prefix}/${name}` : name),
    type: TYPES[flag] ?? "other",
    mode: numeric(header, 100, 8) & 0o7777,
    uid: readPaxNumber(pax, "uid", numeric(header, 108, 8), source),
    gid: readPaxNumber(pax, "gid", numeric(header, 116, 8), source),
    mtime: readPaxNumber(pax, "mtime", numeric(header, 136, 12), source),
    linkTarget: pax.get("linkpath") ?? pending.longLink ?? field(header, 157, 100),
    xattrs: collectXattrs(pax),
    data,
  };
  pending.pax = new Map();
  pending.longName = undefined;
  pending.longLink = undefined;
  return { kind: "entry", entry, next };
}

/** Yields the entries of a whole archive held in memory; `source` names it in errors. */
export function* readTar(archive: Uint8Array, source: string): Generator<TarEntry> {
  const pending: PendingHeaders = { pax: new Map() };
  let offset = 0;
  for (;;) {
    const result = readMember(archive, offset, pending, source);
    if (result.kind === "end") return;
    if (result.kind === "more") {
      if (offset + BLOCK <= archive.length) throw new BoxliteError("invalid_argument", `${source}: tar entry at byte ${offset} is truncated`);
      return; // A missing end-of-archive marker is tolerated, as GNU tar does.
    }
    offset = result.next;
    if (result.kind === "entry") yield result.entry;
  }
}


/**
 * Yields the entries of an archive arriving as chunks. Only the current member is
 * buffered, so memory is bounded by the largest file (the caller bounds the total).
 */
export async function* readTarStream(chunks: AsyncIterable<Uint8Array>, source: string): AsyncGenerator<TarEntry> {
  const pending: PendingHeaders = { pax: new Map() };
  let buffer: Uint8Array = new Uint8Array(0);
  let offset = 0;
  let consumed = 0;
  const iterator = chunks[Symbol.asyncIterator]();
  for (;;) {
    const result = readMember(buffer, offset, pending, source);
    if (result.kind === "end") return;
    if (result.kind === "more") {
      // Gather chunks until the member is whole, then copy once: appending per chunk would be quadratic.
      const parts: Uint8Array[] = [buffer.subarray(offset)];
      let available = buffer.length - offset;
      while (available < result.need - offset) {
        const next = await iterator.next();
        if (next.done) break;
        parts.push(next.value);
        available += next.value.length;
      }
      if (available === buffer.length - offset) {
        if (available === 0) return;
        throw new BoxliteError("invalid_argument", `${source}: tar entry at byte ${consumed} is truncated`);
      }
      buffer = new Uint8Array(Bun.concatArrayBuffers(parts));
      offset = 0;
      continue;
    }
    consumed += result.next - offset;
    offset = result.next;
    if (result.kind === "entry") yield { ...result.entry, data: result.entry.data.slice() };
  }
}
