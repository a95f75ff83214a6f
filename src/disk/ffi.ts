/**
 * ABI of ffi/qcow2 (see ffi/qcow2/qcow2.h): the symbols by their C names, loaded on
 * first use. src/disk/qcow2.ts is the typed wrapper; nothing else should call these.
 */
import { dlopen, FFIType, type Library } from "bun:ffi";
import { wrapError } from "../util/errors.ts";
// A real path under `bun test`; inside a `bun build --compile` binary the library is
// embedded and dlopen accepts the embedded path as it is.
import libPath from "../../build/ffi/libqcow2.so" with { type: "file" };

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
  // (src, fd, size, level, workers, uint8_t digest[32]) -> 0 | -errno
  qcow2_flatten_zstd: { args: [FFIType.ptr, FFIType.i32, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  // (in, size, fd, level, workers, uint8_t digest[32]) -> 0 | -errno
  qcow2_zstd_file: { args: [FFIType.i32, FFIType.u64, FFIType.i32, FFIType.i32, FFIType.i32, FFIType.ptr], returns: FFIType.i32 },
  // size_t is 64 bits on every target boxlite builds for.
  qcow2_info_size: { args: [], returns: FFIType.u64 },
} as const;

/** The functions of libqcow2, typed from their C signatures. */
type Qcow2Symbols = Library<typeof SYMBOLS>["symbols"];

let library: Library<typeof SYMBOLS> | undefined;

/** The libqcow2 symbols, loading the library the first time (not at import, so a
 * command that never touches a disk never pays for or fails on the load). */
export function qcow2Symbols(): Qcow2Symbols {
  try {
    library ??= dlopen(libPath, SYMBOLS);
  } catch (error) {
    throw wrapError("internal", `cannot load libqcow2 from ${libPath}; rebuild boxlite`, error);
  }
  return library.symbols;
}
