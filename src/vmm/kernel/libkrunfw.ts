/**
 * libkrunfw through bun:ffi: libkrun's guest kernel, shipped inside a shared library.
 * Symbols mirror libkrunfw's C names.
 */
import { dlopen, FFIType, ptr, toArrayBuffer } from "bun:ffi";
import { BoxliteError } from "../../util/errors.ts";
import type { LibkrunfwOrigin, LibkrunfwSource } from "./libkrunfw-source.ts";

export interface Libkrunfw {
  path: string;
  version: number;
  /** Copies the kernel image out of the library (≈21 MB). */
  readKernel(): { bytes: Uint8Array; loadAddress: bigint; entryAddress: bigint };
  close(): void;
}

const SYMBOLS = {
  krunfw_get_version: { args: [], returns: FFIType.u32 },
  krunfw_get_kernel: { args: [FFIType.ptr, FFIType.ptr, FFIType.ptr], returns: FFIType.ptr },
} as const;

/** What to do when a libkrunfw does not load, by where it came from. */
const REMEDY: Record<LibkrunfwOrigin, string> = {
  BOXLITE_LIBKRUNFW:
    "Point BOXLITE_LIBKRUNFW at a libkrunfw.so.5 (Debian sid: libkrunfw5, Fedora/Arch: libkrunfw) or unset it to use the copy embedded in boxlite",
  embedded:
    "The copy embedded in boxlite was extracted there; if that directory is on a noexec filesystem, set BOXLITE_RUNTIME_DIR elsewhere, " +
    "or set BOXLITE_LIBKRUNFW to a libkrunfw.so.5 (Debian sid: libkrunfw5, Fedora/Arch: libkrunfw)",
};

export function openLibkrunfw(source: LibkrunfwSource): Libkrunfw {
  try {
    return openAt(source.path);
  } catch (cause) {
    const reason = cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause);
    const where = source.origin === "embedded" ? source.path : `BOXLITE_LIBKRUNFW=${source.path}`;
    throw new BoxliteError("missing_dependency", `libkrunfw (the guest kernel) could not be loaded from ${where}: ${reason}. ${REMEDY[source.origin]}`, {
      cause,
    });
  }
}

function openAt(path: string): Libkrunfw {
  const lib = dlopen(path, SYMBOLS);
  return {
    path,
    version: lib.symbols.krunfw_get_version(),
    readKernel() {
      const out = new BigUint64Array(3); // load_addr, entry_addr, size
      const base = lib.symbols.krunfw_get_kernel(ptr(out, 0), ptr(out, 8), ptr(out, 16));
      const size = Number(out[2]);
      if (!base || size === 0) throw new BoxliteError("missing_dependency", `${path}: krunfw_get_kernel returned no kernel`);
      // Copy: the view aliases the library's memory, which dies with close().
      const bytes = new Uint8Array(toArrayBuffer(base, 0, size)).slice();
      return { bytes, loadAddress: out[0] ?? 0n, entryAddress: out[1] ?? 0n };
    },
    close: () => lib.close(),
  };
}
