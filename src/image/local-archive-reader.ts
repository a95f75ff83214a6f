/**
 * Members of a `docker save` archive, read in place: from a tar file, whose headers are
 * scanned once to index member offsets (nothing is extracted and no member is held in
 * memory; members are then streamed with Bun.file().slice()), or from the same archive
 * extracted to a directory. Symlinks and hard links between members (skopeo writes
 * `<id>/layer.tar -> ../<hex>.tar`) are followed, but never out of the archive.
 */
import { open, realpath, stat } from "node:fs/promises";
import { relative, sep } from "node:path";
import { BoxliteError } from "../util/errors.ts";
import { headerNumber, headerText, isHeaderChecksumOk, TAR_BLOCK } from "./tar-header.ts";

/** A regular file inside the archive, ready to read or stream. */
export interface ArchiveMember {
  /** The member's path inside the archive once links are followed. */
  path: string;
  size: number;
  blob(): Blob;
}

/** Looks up members by their path segments (already checked by memberSegments). */
export interface ArchiveReader {
  member(segments: string[], what: string): Promise<ArchiveMember | undefined>;
}

interface TarMember {
  type: "file" | "symlink" | "hardlink" | "other";
  start: number;
  size: number;
  link: string;
}

const BLOCK = TAR_BLOCK;
const decoder = new TextDecoder();
/** Pax and GNU long-name records are a few hundred bytes; a larger one is hostile. */
const MAX_EXTENSION_BYTES = 1024 * 1024;
const MAX_LINK_HOPS = 16;

/** Pax records "<len> <key>=<value>\n"; only `path`, `linkpath` and `size` matter here. */
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

/** A member name as a lookup key, or undefined for names that climb out (never addressable). */
function memberKey(name: string): string | undefined {
  const segments = name.split("/").filter((segment) => segment !== "" && segment !== ".");
  return segments.includes("..") ? undefined : segments.join("/");
}

/** Scans the headers of the tar file at `path` and indexes its members by path. */
export async function indexTar(path: string): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const handle = await open(path, "r");
  try {
    const fileSize = (await handle.stat()).size;
    const header = new Uint8Array(BLOCK);
    let pax = new Map<string, string>();
    let longName: string | undefined;
    let longLink: string | undefined;
    let offset = 0;
    if (fileSize < BLOCK) throw new BoxliteError("invalid_argument", `${path} is not a tar archive (it is ${fileSize} bytes); expected a docker save archive`);
    while (offset + BLOCK <= fileSize) {
      await handle.read(header, 0, BLOCK, offset);
      if (header.every((byte) => byte === 0)) break;
      if (!isHeaderChecksumOk(header)) {
        if (offset === 0)
          throw new BoxliteError("invalid_argument", `${path} is not a tar archive; expected a docker save archive (or an OCI layout directory)`);
        throw new BoxliteError("invalid_argument", `${path}: corrupt tar header at byte ${offset}; the archive is damaged — re-create it`);
      }
      const size = Number(pax.get("size") ?? headerNumber(header, 124, 12));
      const start = offset + BLOCK;
      if (!Number.isSafeInteger(size) || size < 0 || start + size > fileSize) {
        throw new BoxliteError("invalid_argument", `${path}: the tar member at byte ${offset} is truncated; the archive is incomplete — re-create it`);
      }
      offset = start + Math.ceil(size / BLOCK) * BLOCK;
      const flag = headerText(header, 156, 1);
      if (flag === "x" || flag === "L" || flag === "K") {
        if (size > MAX_EXTENSION_BYTES)
          throw new BoxliteError("invalid_argument", `${path}: a ${size}-byte tar extension header at byte ${start - BLOCK}; the archive is malformed`);
        const data = new Uint8Array(size);
        await handle.read(data, 0, size, start);
        if (flag === "x") pax = parsePax(data);
        else if (flag === "L") longName = headerText(data, 0, size);
        else longLink = headerText(data, 0, size);
        continue;
      }
      if (flag === "g") continue;
      const prefix = headerText(header, 345, 155);
      const name = pax.get("path") ?? longName ?? (prefix ? `${prefix}/${headerText(header, 0, 100)}` : headerText(header, 0, 100));
      const key = memberKey(name);
      const type = flag === "0" || flag === "" || flag === "7" ? "file" : flag === "2" ? "symlink" : flag === "1" ? "hardlink" : "other";
      if (key !== undefined) members.set(key, { type, start, size, link: pax.get("linkpath") ?? longLink ?? headerText(header, 157, 100) });
      pax = new Map();
      longName = undefined;
      longLink = undefined;
    }
  } finally {
    await handle.close();
  }
  return members;
}

/** Resolves a link target against the segments of the directory holding the link. */
function followLink(base: string[], target: string, what: string): string {
  if (target.startsWith("/"))
    throw new BoxliteError("invalid_argument", `${what}: a link to the absolute path ${JSON.stringify(target)} leaves the archive; refusing it`);
  const segments = [...base];
  for (const segment of target.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment !== "..") segments.push(segment);
    else if (segments.pop() === undefined)
      throw new BoxliteError("invalid_argument", `${what}: the link ${JSON.stringify(target)} leaves the archive; refusing it`);
  }
  return segments.join("/");
}

/** A reader over the tar file at `path`. */
export async function tarReader(path: string): Promise<ArchiveReader> {
  const members = await indexTar(path);
  const file = Bun.file(path);
  return {
    async member(segments, what) {
      let key = segments.join("/");
      for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
        const entry = members.get(key);
        if (entry === undefined) return undefined;
        if (entry.type === "file") return { path: key, size: entry.size, blob: () => file.slice(entry.start, entry.start + entry.size) };
        if (entry.type === "other") throw new BoxliteError("invalid_argument", `${what}: ${key} in ${path} is not a regular file`);
        // A symlink is relative to its directory; a hard link names a member from the archive root.
        key = followLink(entry.type === "symlink" ? key.split("/").slice(0, -1) : [], entry.link, `${what} (${key} in ${path})`);
      }
      throw new BoxliteError("invalid_argument", `${what}: too many links from ${segments.join("/")} in ${path}`);
    },
  };
}

/** A reader over an archive extracted to the directory `root`. */
export async function directoryReader(root: string): Promise<ArchiveReader> {
  const realRoot = await realpath(root);
  return {
    async member(segments, what) {
      let real: string;
      try {
        real = await realpath([realRoot, ...segments].join(sep));
      } catch {
        return undefined;
      }
      // realpath follows symlinks, so this also catches a link inside the directory pointing out of it.
      const inside = relative(realRoot, real);
      if (inside === "" || inside.startsWith(`..${sep}`) || inside === ".." || inside.startsWith(sep)) {
        throw new BoxliteError("invalid_argument", `${what}: ${segments.join("/")} in ${root} resolves to ${real}, outside the archive directory; refusing it`);
      }
      const info = await stat(real);
      if (!info.isFile()) throw new BoxliteError("invalid_argument", `${what}: ${segments.join("/")} in ${root} is not a regular file`);
      return { path: inside.split(sep).join("/"), size: info.size, blob: () => Bun.file(real) };
    },
  };
}
