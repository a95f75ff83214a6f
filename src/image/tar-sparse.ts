/**
 * GNU sparse files in tar: the map of data segments, read from an old-GNU `S` header and its
 * extension blocks, or from pax `GNU.sparse.*` records (formats 0.0, 0.1 and 1.0, the last
 * keeping the map at the start of the member's data). The member's data is the segments'
 * bytes one after another; everything between them is a hole. Maps come from untrusted
 * archives, so each is checked whole before any byte is written.
 */
import { BoxliteError } from "../util/errors.ts";
import { headerNumber, TAR_BLOCK } from "./tar-header.ts";

/** One run of data in a sparse file: `length` bytes of the member's data land at `offset`. */
export interface SparseSegment {
  offset: number;
  length: number;
}

export interface SparseMap {
  /** The file's length once expanded, holes included. */
  realSize: number;
  /** In ascending order, not overlapping, all within `realSize`. */
  segments: SparseSegment[];
}

/**
 * Most segments a map may hold: a million is a fragmented 256 GiB disk at 256 KiB a segment,
 * and at 24 bytes a header entry some 47,000 extension blocks. More only serves to exhaust memory.
 */
export const MAX_SPARSE_SEGMENTS = 1 << 20;
/** Most extension blocks an old-GNU map may take: enough for MAX_SPARSE_SEGMENTS, and a bound even when they hold no entries. */
export const MAX_SPARSE_EXTENSION_BLOCKS = Math.ceil(MAX_SPARSE_SEGMENTS / 21);

/** Old GNU header: 4 entries of 12-byte offset + 12-byte length at 386, isextended at 482, realsize at 483. */
const HEADER_MAP = 386;
const HEADER_ENTRIES = 4;
const HEADER_EXTENDED = 482;
const HEADER_REAL_SIZE = 483;
/** Extension block: 21 entries, then its own isextended flag at 504. */
const EXTENSION_ENTRIES = 21;
const EXTENSION_EXTENDED = 504;

function refuse(source: string, path: string, detail: string): BoxliteError {
  return new BoxliteError("invalid_argument", `${source}: sparse tar entry ${JSON.stringify(path)}: ${detail}`);
}

function number(block: Uint8Array, offset: number, what: string, source: string, path: string): number {
  const value = headerNumber(block, offset, 12);
  if (!Number.isSafeInteger(value) || value < 0) throw refuse(source, path, `its ${what} is not a number`);
  return value;
}

/** Appends a block's entries to `segments`; an entry whose offset field is empty ends the list. */
function readEntries(block: Uint8Array, at: number, count: number, segments: SparseSegment[], source: string, path: string): void {
  for (let i = 0; i < count; i++) {
    const offset = at + i * 24;
    if (block[offset] === 0) return;
    if (segments.length >= MAX_SPARSE_SEGMENTS) throw refuse(source, path, `its map holds more than ${MAX_SPARSE_SEGMENTS} segments`);
    segments.push({ offset: number(block, offset, "segment offset", source, path), length: number(block, offset + 12, "segment length", source, path) });
  }
}

/**
 * The map of an old-GNU `S` member: the header's four entries, then extension blocks (read
 * with `nextBlock`, undefined at the end of the input) while the isextended flag is set.
 */
export async function readGnuSparseMap(header: Uint8Array, nextBlock: () => Promise<Uint8Array | undefined>, source: string, path: string): Promise<SparseMap> {
  const segments: SparseSegment[] = [];
  readEntries(header, HEADER_MAP, HEADER_ENTRIES, segments, source, path);
  let extended = header[HEADER_EXTENDED] !== 0;
  for (let blocks = 0; extended; blocks++) {
    if (blocks >= MAX_SPARSE_EXTENSION_BLOCKS) throw refuse(source, path, `its map runs on past ${MAX_SPARSE_EXTENSION_BLOCKS} extension blocks`);
    const block = await nextBlock();
    if (block === undefined) throw refuse(source, path, "the archive ends inside its sparse map");
    readEntries(block, 0, EXTENSION_ENTRIES, segments, source, path);
    extended = block[EXTENSION_EXTENDED] !== 0;
  }
  return { realSize: number(header, HEADER_REAL_SIZE, "real size", source, path), segments };
}

function decimal(text: string | undefined, what: string, source: string, path: string): number {
  const value = text !== undefined && /^\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value)) throw refuse(source, path, `its ${what} ${JSON.stringify(text ?? "")} is not a number`);
  return value;
}

function pairs(numbers: string[], source: string, path: string): SparseSegment[] {
  if (numbers.length % 2 !== 0) throw refuse(source, path, "its map has an offset without a length");
  if (numbers.length / 2 > MAX_SPARSE_SEGMENTS) throw refuse(source, path, `its map holds more than ${MAX_SPARSE_SEGMENTS} segments`);
  const segments: SparseSegment[] = [];
  for (let i = 0; i < numbers.length; i += 2)
    segments.push({ offset: decimal(numbers[i], "segment offset", source, path), length: decimal(numbers[i + 1], "segment length", source, path) });
  return segments;
}

/** What pax records say about a sparse file: 0.0 repeats offset/numbytes records, so they are kept in order. */
export interface PaxSparse {
  offsets: string[];
  lengths: string[];
}

/** Whether the pax records describe a sparse file (any GNU.sparse.* key). */
export function isPaxSparse(pax: Map<string, string>, repeated: PaxSparse): boolean {
  return repeated.offsets.length > 0 || [...pax.keys()].some((key) => key.startsWith("GNU.sparse."));
}

/** The map of a pax 0.0 or 0.1 member, or undefined for 1.0, whose map opens the data (see `readPaxSparseMap10`). */
export function paxSparseMap(pax: Map<string, string>, repeated: PaxSparse, source: string, path: string): SparseMap | undefined {
  const major = pax.get("GNU.sparse.major");
  if (major !== undefined) {
    if (major !== "1" || pax.get("GNU.sparse.minor") !== "0")
      throw refuse(source, path, `GNU sparse format ${major}.${pax.get("GNU.sparse.minor") ?? "?"} is not one this reader knows (0.0, 0.1, 1.0)`);
    return undefined;
  }
  const realSize = decimal(pax.get("GNU.sparse.size"), "GNU.sparse.size", source, path);
  const map = pax.get("GNU.sparse.map");
  const numbers = map !== undefined ? (map === "" ? [] : map.split(",")) : repeated.offsets.flatMap((offset, i) => [offset, repeated.lengths[i] ?? ""]);
  if (map === undefined && repeated.offsets.length !== repeated.lengths.length) throw refuse(source, path, "its map has an offset without a length");
  const segments = pairs(numbers, source, path);
  const blocks = pax.get("GNU.sparse.numblocks");
  if (blocks !== undefined && decimal(blocks, "GNU.sparse.numblocks", source, path) !== segments.length)
    throw refuse(source, path, `GNU.sparse.numblocks says ${blocks} but its map holds ${segments.length} segments`);
  return { realSize, segments };
}

/**
 * Reads the map that opens a pax 1.0 member's data: decimal numbers one a line (the count,
 * then offset and length pairs), padded to a block. `nextBlock` yields the data's blocks;
 * `size` is the member's size, which the map may not run past. Returns the map and its bytes.
 */
export async function readPaxSparseMap10(
  realSizeText: string | undefined,
  size: number,
  nextBlock: () => Promise<Uint8Array | undefined>,
  source: string,
  path: string,
): Promise<{ map: SparseMap; bytes: number }> {
  const realSize = decimal(realSizeText, "GNU.sparse.realsize", source, path);
  const numbers: string[] = [];
  let partial = "";
  let count: number | undefined;
  let bytes = 0;
  while (count === undefined || numbers.length < 2 * count) {
    if (bytes + TAR_BLOCK > size) throw refuse(source, path, "its sparse map runs past the member's data");
    const block = await nextBlock();
    if (block === undefined) throw refuse(source, path, "the archive ends inside its sparse map");
    bytes += TAR_BLOCK;
    const lines = (partial + new TextDecoder().decode(block)).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) {
      if (count === undefined) {
        count = decimal(line, "segment count", source, path);
        if (count > MAX_SPARSE_SEGMENTS) throw refuse(source, path, `its map holds ${count} segments, more than ${MAX_SPARSE_SEGMENTS}`);
      } else if (numbers.length < 2 * count) numbers.push(line);
    }
    // The padding after the last number is NULs; a partial line of anything else is a number cut by the block end.
    if (partial.length > 20 && !/^\0*$/.test(partial)) throw refuse(source, path, "its sparse map has a number longer than 20 digits");
  }
  return { map: { realSize, segments: pairs(numbers, source, path) }, bytes };
}

/**
 * Checks a map against the member holding it: segments in ascending order, not overlapping,
 * within the real size, and their lengths adding up to the `dataSize` bytes the member carries.
 */
export function checkSparseMap(map: SparseMap, dataSize: number, source: string, path: string): void {
  let end = 0;
  let total = 0;
  for (const [i, { offset, length }] of map.segments.entries()) {
    if (offset < end) throw refuse(source, path, `segment ${i} at ${offset} overlaps or precedes the one before it (which ends at ${end})`);
    if (offset + length > map.realSize) throw refuse(source, path, `segment ${i} (${length} bytes at ${offset}) runs past its real size ${map.realSize}`);
    end = offset + length;
    total += length;
  }
  if (total !== dataSize) throw refuse(source, path, `its map's segments hold ${total} bytes but the member carries ${dataSize}`);
}
