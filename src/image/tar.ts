/**
 * A streaming tar reader (POSIX ustar, pax `path`/`linkpath`/`size`/`uid`/`gid`/`mtime`,
 * `SCHILY.xattr.*` and `SCHILY.devmajor`/`devminor`, GNU long names and links, GNU sparse
 * files: old-GNU `S` members and pax formats 0.0, 0.1 and 1.0, see tar-sparse.ts). It yields
 * entries whose content flows through in the input's chunks, so memory stays bounded by a
 * chunk however big a file is; applying entries safely is unpack.ts's job.
 */
import { BoxliteError } from "../util/errors.ts";
import { headerNumber, headerText, isHeaderChecksumOk, TAR_BLOCK } from "./tar-header.ts";
import { checkSparseMap, isPaxSparse, type PaxSparse, paxSparseMap, readGnuSparseMap, readPaxSparseMap10, type SparseMap } from "./tar-sparse.ts";

export type { SparseMap, SparseSegment } from "./tar-sparse.ts";

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
  /** Bytes of content the archive holds for the entry: a file's length, or a sparse file's data segments. */
  size: number;
  /**
   * Set for a GNU sparse file, whose `content` is its data segments one after another (the
   * map already checked: ascending, not overlapping, within `realSize`, adding up to `size`).
   * Its type is "other", so a reader that does not expand sparse files skips it as special.
   */
  sparse?: SparseMap;
  /**
   * The content, `size` bytes in pieces no bigger than the input's chunks. Each piece is a
   * view into an input chunk: use it before asking for the next. Read it (once) before asking
   * for the next entry; whatever is left unread is then skipped. Throws a BoxliteError naming
   * the entry when the input ends inside it.
   */
  content: AsyncIterable<Uint8Array>;
}

const BLOCK = TAR_BLOCK;
const decoder = new TextDecoder();

const XATTR_PREFIX = "SCHILY.xattr.";

/**
 * Most bytes a pax or GNU long-name member may hold, since it is read whole: real ones carry a
 * path or a few xattrs (Linux caps a value at 64 KiB); a bigger one only serves to exhaust memory.
 */
const MAX_EXTENSION_BYTES = 1024 * 1024;

/**
 * Parses pax extended header records: "<len> <key>=<value>\n". Xattr values are kept as
 * bytes (decoding them as UTF-8 would mangle binary ones); other values are text.
 */
function parsePax(data: Uint8Array, pending: PendingHeaders): void {
  pending.pax = new Map();
  pending.xattrs = {};
  pending.sparse = { offsets: [], lengths: [] };
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
      // Sparse format 0.0 repeats these two, in map order.
      else if (key === "GNU.sparse.offset") pending.sparse.offsets.push(decoder.decode(value));
      else if (key === "GNU.sparse.numbytes") pending.sparse.lengths.push(decoder.decode(value));
      else pending.pax.set(key, decoder.decode(value));
    }
    offset += length;
  }
}

const TYPES: Record<string, TarEntryType> = {
  "0": "file",
  "": "file",
  "7": "file",
  "5": "directory",
  "2": "symlink",
  "1": "hardlink",
  "3": "chardev",
  "4": "blockdev",
  "6": "fifo",
};

/** Extension headers seen so far that apply to the next real entry. */
interface PendingHeaders {
  pax: Map<string, string>;
  xattrs: Record<string, Uint8Array>;
  sparse: PaxSparse;
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

function refuseTruncated(source: string, start: number, path?: string): BoxliteError {
  const what = path === undefined ? "tar entry" : `tar entry ${JSON.stringify(path)}`;
  return new BoxliteError("invalid_argument", `${source}: ${what} at byte ${start} is truncated: the archive ends inside it`);
}

/** Bytes of zeros after `size` bytes of data, up to the next block. */
const countPadding = (size: number) => Math.ceil(size / BLOCK) * BLOCK - size;

/** Hands out an input's bytes in the pieces asked for, holding no more than one input chunk. */
class ByteReader {
  #chunk: Uint8Array = new Uint8Array(0);
  #offset = 0;
  /** Bytes handed out so far: the archive offset of the next one. */
  position = 0;

  constructor(private readonly iterator: AsyncIterator<Uint8Array>) {}

  /** Up to `max` bytes, a view into the current input chunk; undefined at the end of the input. */
  async piece(max: number): Promise<Uint8Array | undefined> {
    while (this.#offset >= this.#chunk.length) {
      const next = await this.iterator.next();
      if (next.done) return undefined;
      this.#chunk = next.value;
      this.#offset = 0;
    }
    const piece = this.#chunk.subarray(this.#offset, this.#offset + max);
    this.#offset += piece.length;
    this.position += piece.length;
    return piece;
  }

  /** `length` bytes as one array (a view when one chunk holds them), shorter if the input ends first. */
  async bytes(length: number): Promise<Uint8Array> {
    const parts: Uint8Array[] = [];
    let have = 0;
    while (have < length) {
      const piece = await this.piece(length - have);
      if (piece === undefined) break;
      parts.push(piece);
      have += piece.length;
    }
    return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
  }

  /** Passes over `length` bytes; returns how many were missing when the input ended first. */
  async skip(length: number): Promise<number> {
    let left = length;
    while (left > 0) {
      const piece = await this.piece(left);
      if (piece === undefined) break;
      left -= piece.length;
    }
    return left;
  }
}

/** The content of the entry just yielded: streamed to the consumer, then the rest skipped. */
class EntryContent implements AsyncIterable<Uint8Array> {
  #left: number;
  #passed = false;

  constructor(
    private readonly reader: ByteReader,
    private readonly size: number,
    private readonly where: { source: string; start: number; path: string },
  ) {
    this.#left = size;
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Uint8Array> {
    while (this.#left > 0) {
      // The reader has moved on: these bytes now belong to another entry.
      if (this.#passed)
        throw new BoxliteError("internal", `${this.where.source}: the content of ${JSON.stringify(this.where.path)} was read after the next entry`);
      const piece = await this.reader.piece(this.#left);
      if (piece === undefined) throw refuseTruncated(this.where.source, this.where.start, this.where.path);
      this.#left -= piece.length;
      yield piece;
    }
  }

  /** Skips what the consumer left unread and the padding, up to the next header. */
  async finish(): Promise<void> {
    this.#passed = true;
    if ((await this.reader.skip(this.#left + countPadding(this.size))) > 0) throw refuseTruncated(this.where.source, this.where.start, this.where.path);
  }
}

/** Reads a pax or GNU long-name member whole (or skips a global pax one) into `pending`. */
async function readExtension(reader: ByteReader, flag: string, size: number, pending: PendingHeaders, source: string, start: number): Promise<void> {
  if (flag === "g") {
    if ((await reader.skip(size + countPadding(size))) > 0) throw refuseTruncated(source, start);
    return;
  }
  if (size > MAX_EXTENSION_BYTES)
    throw new BoxliteError(
      "invalid_argument",
      `${source}: tar extension header at byte ${start} holds ${size} bytes, past the limit of ${MAX_EXTENSION_BYTES}; refusing the layer`,
    );
  const data = await reader.bytes(size);
  if (data.length < size || (await reader.skip(countPadding(size))) > 0) throw refuseTruncated(source, start);
  if (flag === "x") parsePax(data, pending);
  else if (flag === "L") pending.longName = headerText(data, 0, data.length);
  else pending.longLink = headerText(data, 0, data.length);
}

const EXTENSIONS = new Set(["x", "g", "L", "K"]);

/** Builds the entry a real header describes, folding in and clearing the pending extensions. */
function describeEntry(header: Uint8Array, flag: string, pending: PendingHeaders, source: string): Omit<TarEntry, "size" | "content"> {
  // Old GNU headers keep atime, ctime and the sparse map where ustar has its name prefix.
  const prefix = headerText(header, 257, 8) === "ustar  " ? "" : headerText(header, 345, 155);
  const name = headerText(header, 0, 100);
  const { pax, xattrs } = pending;
  const entry = {
    path: pax.get("GNU.sparse.name") ?? pax.get("path") ?? pending.longName ?? (prefix ? `${prefix}/${name}` : name),
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
  };
  pending.pax = new Map();
  pending.xattrs = {};
  pending.sparse = { offsets: [], lengths: [] };
  pending.longName = undefined;
  pending.longLink = undefined;
  return entry;
}

/**
 * Yields the entries of an archive arriving as chunks; `source` names it in errors. Only
 * headers and extension members are gathered; content streams through (see `TarEntry.content`).
 * It never closes `chunks`: the caller may read on past the end-of-archive blocks.
 */
export async function* readTarStream(chunks: AsyncIterable<Uint8Array>, source: string): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(chunks[Symbol.asyncIterator]());
  const pending: PendingHeaders = { pax: new Map(), xattrs: {}, sparse: { offsets: [], lengths: [] } };
  const nextBlock = async () => {
    const block = await reader.bytes(BLOCK);
    return block.length === BLOCK ? block : undefined;
  };
  for (;;) {
    const start = reader.position;
    const header = await reader.bytes(BLOCK);
    if (header.length === 0) return; // A missing end-of-archive marker is tolerated, as GNU tar does.
    if (header.length < BLOCK) throw refuseTruncated(source, start);
    if (header.every((byte) => byte === 0)) return;
    if (!isHeaderChecksumOk(header)) throw new BoxliteError("invalid_argument", `${source}: corrupt tar header at byte ${start}`);
    const size = Number(pending.pax.get("size") ?? headerNumber(header, 124, 12));
    if (!Number.isSafeInteger(size) || size < 0) throw new BoxliteError("invalid_argument", `${source}: tar entry at byte ${start} has a bad size`);
    const flag = headerText(header, 156, 1);
    if (EXTENSIONS.has(flag)) {
      await readExtension(reader, flag, size, pending, source, start);
      continue;
    }
    const paxSparse = isPaxSparse(pending.pax, pending.sparse) ? { pax: pending.pax, repeated: pending.sparse } : undefined;
    const entry = describeEntry(header, flag, pending, source);
    let sparse: SparseMap | undefined;
    let dataSize = size;
    if (flag === "S") sparse = await readGnuSparseMap(header, nextBlock, source, entry.path);
    else if (paxSparse) {
      sparse = paxSparseMap(paxSparse.pax, paxSparse.repeated, source, entry.path);
      if (sparse === undefined) {
        const read = await readPaxSparseMap10(paxSparse.pax.get("GNU.sparse.realsize"), size, nextBlock, source, entry.path);
        sparse = read.map;
        dataSize -= read.bytes; // Whole blocks: the padding after the data stays that of `size`.
      }
    }
    if (sparse) checkSparseMap(sparse, dataSize, source, entry.path);
    const content = new EntryContent(reader, dataSize, { source, start, path: entry.path });
    yield sparse ? { ...entry, type: "other", sparse, size: dataSize, content } : { ...entry, size, content };
    await content.finish();
  }
}
