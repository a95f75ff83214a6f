/**
 * ABI of ffi/qcow2 (see ffi/qcow2/qcow2.h): the symbols by their C names, loaded on
 * first use. src/disk/qcow2.ts is the typed wrapper; nothing else should call these.
 * Two libraries: libqcow2 (the disk format, which every box's creation needs) and
 * libqcow2pack (the same with the archive packer, linked with zstd and libcrypto, whose
 * loading would cost every creation ~3.5 ms; see ffi/qcow2/Makefile).
 */
import { dlopen, FFIType, type Library } from "bun:ffi";
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { wrapError } from "../util/errors.ts";
import { cachedFileSync } from "../util/fs.ts";
// A real path under `bun test`; inside a `bun build --compile` binary the library is
// embedded and dlopen accepts the embedded path as it is.
import libPath from "../../build/ffi/libqcow2.so" with { type: "file" };
import packLibPath from "../../build/ffi/libqcow2pack.so" with { type: "file" };

const SYMBOLS = {
  // (path, backing_file, backing_format, virtual_size) -> 0 | -errno
  qcow2_create_overlay: {
    args: [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64],
    returns: FFIType.i32,
  },
  // (path, struct qcow2_info *out) -> 0 | -errno
  qcow2_read_info: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // (path, backing_file, backing_format) -> 0 | -errno
  qcow2_set_backing: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // (src, dst, flags) -> 0 | -errno
  qcow2_flatten: { args: [FFIType.ptr, FFIType.ptr, FFIType.u32], returns: FFIType.i32 },
  // (src, uint64_t *size) -> 0 | -errno
  qcow2_flatten_size: { args: [FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // size_t is 64 bits on every target boxlite builds for.
  qcow2_info_size: { args: [], returns: FFIType.u64 },
} as const;

const PACK_SYMBOLS = {
  // (src, fd, size, level, workers, uint8_t digest[32]) -> 0 | -errno
  qcow2_flatten_zstd: { args: [FFIType.ptr, FFIType.i32, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  // (in, size, fd, level, workers, uint8_t digest[32]) -> 0 | -errno
  qcow2_zstd_file: { args: [FFIType.i32, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
} as const;

/** The functions of libqcow2, typed from their C signatures. */
type Qcow2Symbols = Library<typeof SYMBOLS>["symbols"];
type PackSymbols = Library<typeof PACK_SYMBOLS>["symbols"];

let library: Library<typeof SYMBOLS> | undefined;
let packLibrary: Library<typeof PACK_SYMBOLS> | undefined;

/** Where this process copies its embedded libraries to load them (setLibraryDir), if anywhere. */
let libraryDir: string | undefined;

/**
 * Loads the libraries from `dir` (the runtime directory's `lib/`) from now on: dlopen of a file
 * embedded in the executable has Bun write it to a temporary file first, every time, ~3.5 ms of
 * each process that touches a disk (a box's creation, every start's backing chain). Set once
 * the configuration is known (openHome); until then, and in a worker, the embedded path is used.
 */
export function setLibraryDir(dir: string): void {
  libraryDir = dir;
}

/**
 * The path to dlopen `embedded` from: a copy in the library directory for a library embedded in
 * the executable (its name carries a hash of its bytes, so a build never loads another's), made
 * once, whole; the path itself otherwise (`bun test`, whose build/ names carry no hash).
 */
function loadablePath(embedded: string): string {
  if (libraryDir === undefined || !embedded.startsWith("/$bunfs/")) return embedded;
  return cachedFileSync(join(libraryDir, basename(embedded)), (tmp) => writeFileSync(tmp, readFileSync(embedded)));
}

function load<T extends Record<string, { args: readonly FFIType[]; returns: FFIType }>>(embedded: string, symbols: T): Library<T> {
  try {
    return dlopen(loadablePath(embedded), symbols);
  } catch (error) {
    throw wrapError("internal", `cannot load ${embedded}; rebuild boxlite`, error);
  }
}

/** The libqcow2 symbols, loading the library the first time (not at import, so a
 * command that never touches a disk never pays for or fails on the load). */
export function qcow2Symbols(): Qcow2Symbols {
  library ??= load(libPath, SYMBOLS);
  return library.symbols;
}

/** The archive packer's symbols (libqcow2pack), loaded the first time an export packs a disk. */
export function packSymbols(): PackSymbols {
  packLibrary ??= load(packLibPath, PACK_SYMBOLS);
  return packLibrary.symbols;
}
