/**
 * A tar reader (POSIX ustar, pax `path`/`linkpath`/`size`/`uid`/`gid`/`mtime`,
 * `SCHILY.xattr.*` and `SCHILY.devmajor`/`devminor`, GNU long names and links). It yields entries; applying them safely is
 * unpack.ts's job. `readTar` walks an in-memory archive; `readTarStream` walks chunks as
 * they arrive and holds at most one entry's data at a time.
 */
import { BoxliteError } from "../util/errors.ts";
import { headerNumber, headerText, isHeaderChecksumOk, TAR_BLOCK } from "./tar-header.ts";

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
  /** Device numbers of a "chardev" or "blockdev" entry (0 for other types). */
  devMajor: number;
  devMinor: number;
  /** From pax `SCHILY.xattr.<name>` records (what GNU tar and containerd write), as raw bytes: values like security.capability are binary. */
  xattrs: Record<string, Uint8Array>;
  data: Uint8Array;
}

const BLOCK = TAR_BLOCK;
const decoder = new TextDecoder();

const XATTR_PREFIX = "SCHILY.xattr.";

/**
 * Parses pax extended header records: "<len> <key>=<value>\n". Xattr values are kept as
 * bytes (decoding them as UTF-8 would mangle binary ones); other values are text.
 */
function parsePax(data: Uint8Array, pending: PendingHeaders): void {
  pending.pax = new Map();
  pending.xattrs = {};
  let offset = 0;
  while (offset < data.length) {
    const space = data.indexOf(0x20, offset);
    const length = Number.parseInt(decoder.decode(data.subarray(offset, space)), 10);
    if (space < 0 || !Number.isFinite(length) || length <= 0) break;
    const record = data.subarray(space + 1, offset + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) {
      const key = decoder.decode(record.subarray(0, eq));
      const value = record.subarray(eq + 1);
      if (key.startsWith(XATTR_PREFIX)) pending.xattrs[key.slice(XATTR_PREFIX.length)] = new Uint8Array(value);
      else pending.pax.set(key, decoder.decode(value));
    }
    offset += length;
  }
}

const TYPES: Record<string, TarEntryType> = { "0": "file", "": "file", "7": "file", "5": "directory", "2": "symlink", "1": "hardlink", "3": "chardev", "4": "blockdev", "6": "fifo" };

/** Extension headers seen so far that apply to the next real entry. */
interface PendingHeaders {
  pax: Map<string, string>;
  xattrs: Record<string, Uint8Array>;
  longName?: string;
  longLink?: string;
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
  if (!isHeaderChecksumOk(header)) throw new BoxliteError("invalid_argument", `${source}: corrupt tar header at byte ${offset}`);
  const size = Number(pending.pax.get("size") ?? headerNumber(header, 124, 12));
  if (!Number.isSafeInteger(size) || size < 0) throw new BoxliteError("invalid_argument", `${source}: tar entry at byte ${offset} has a bad size`);
  const dataStart = offset + BLOCK;
  const next = dataStart + Math.ceil(size / BLOCK) * BLOCK;
  if (next > buffer.length) return { kind: "more", need: next };
  const data = buffer.subarray(dataStart, dataStart + size);
  const flag = headerText(header, 156, 1);
  if (flag === "x") {
    parsePax(data, pending);
    return { kind: "skip", next };
  }
  if (flag === "g") return { kind: "skip", next };
  if (flag === "L") {
    pending.longName = headerText(data, 0, data.length);
    return { kind: "skip", next };
  }
  if (flag === "K") {
    pending.longLink = headerText(data, 0, data.length);
    return { kind: "skip", next };
  }
  const prefix = headerText(header, 345, 155);
  const name = headerText(header, 0, 100);
  const { pax, xattrs } = pending;
  const entry: TarEntry = {
    path: pax.get("path") ?? pending.longName ?? (prefix ? `${prefix}/${name}` : name),
    type: TYPES[flag] ?? "other",
    mode: headerNumber(header, 100, 8) & 0o7777,
    uid: readPaxNumber(pax, "uid", headerNumber(header, 108, 8), source),
    gid: readPaxNumber(pax, "gid", headerNumber(header, 116, 8), source),
    mtime: readPaxNumber(pax, "mtime", headerNumber(header, 136, 12), source),
    linkTarget: pax.get("linkpath") ?? pending.longLink ?? headerText(header, 157, 100),
    // ustar devmajor/devminor at 329/337; star's pax records carry numbers too big for them.
    devMajor: readPaxNumber(pax, "SCHILY.devmajor", headerNumber(header, 329, 8), source),
    devMinor: readPaxNumber(pax, "SCHILY.devminor", headerNumber(header, 337, 8), source),
    xattrs,
    data,
  };
  pending.pax = new Map();
  pending.xattrs = {};
  pending.longName = undefined;
  pending.longLink = undefined;
  return { kind: "entry", entry, next };
}

/** Yields the entries of a whole archive held in memory; `source` names it in errors. */
export function* readTar(archive: Uint8Array, source: string): Generator<TarEntry> {
  const pending: PendingHeaders = { pax: new Map(), xattrs: {} };
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
  const pending: PendingHeaders = { pax: new Map(), xattrs: {} };
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
