/**
 * The two libc calls Node lacks for unpacking image layers faithfully: lsetxattr(2), for
 * the xattrs a layer records (file capabilities, SELinux labels, user.*), and mknod(2),
 * for its device nodes and fifos. Failures throw an Error shaped like Node's fs errors
 * (`code: "EPERM"`, `errno`, `syscall`, `path`), so callers handle both kinds alike.
 */
import { dlopen, FFIType, read } from "bun:ffi";

const darwin = process.platform === "darwin";

/** errno names the callers decide on; anything else is reported by number. */
const ERRNO_NAMES: Record<number, string> = darwin
  ? { 1: "EPERM", 2: "ENOENT", 13: "EACCES", 17: "EEXIST", 22: "EINVAL", 28: "ENOSPC", 34: "ERANGE", 45: "ENOTSUP", 78: "ENOSYS", 102: "EOPNOTSUPP" }
  : { 1: "EPERM", 2: "ENOENT", 7: "E2BIG", 13: "EACCES", 17: "EEXIST", 22: "EINVAL", 28: "ENOSPC", 34: "ERANGE", 38: "ENOSYS", 95: "ENOTSUP" };

/** An errno failure, as Node reports its own (NodeJS.ErrnoException). */
export interface LibcError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path: string;
}

type Libc = {
  lsetxattr(path: Uint8Array, name: Uint8Array, value: Uint8Array | null, size: number): number;
  /** Undefined when this libc does not export mknod (glibc before 2.33 only has __xmknod). */
  mknod: ((path: Uint8Array, mode: number, dev: number | bigint) => number) | undefined;
  errno(): number;
};
let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  const name = darwin ? "libSystem.B.dylib" : "libc.so.6";
  const errnoSymbol = darwin ? "__error" : "__errno_location";
  // macOS has no lsetxattr: setxattr takes a position and XATTR_NOFOLLOW (0x0001) instead.
  const lib = dlopen(name, {
    [darwin ? "setxattr" : "lsetxattr"]: {
      args: darwin
        ? [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.u32, FFIType.i32]
        : [FFIType.ptr, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.i32],
      returns: FFIType.i32,
    },
    [errnoSymbol]: { args: [], returns: FFIType.ptr },
  });
  const setxattr = lib.symbols[darwin ? "setxattr" : "lsetxattr"] as (...args: unknown[]) => number;
  const errnoLocation = lib.symbols[errnoSymbol] as () => number | null;
  libc = {
    lsetxattr: (path, attr, value, size) => (darwin ? setxattr(path, attr, value, size, 0, 1) : setxattr(path, attr, value, size, 0)),
    mknod: loadMknod(name),
    errno: () => {
      const location = errnoLocation();
      return location ? read.i32(location, 0) : 0;
    },
  };
  return libc;
}

function loadMknod(name: string): Libc["mknod"] {
  try {
    // mode_t is 16 bits and dev_t 32 on macOS; 32 and 64 on Linux.
    const lib = dlopen(name, { mknod: { args: [FFIType.ptr, darwin ? FFIType.u16 : FFIType.u32, darwin ? FFIType.i32 : FFIType.u64], returns: FFIType.i32 } });
    return (path, mode, dev) => lib.symbols.mknod(path, mode, dev) as number;
  } catch {
    return undefined;
  }
}

function cString(text: string): Uint8Array {
  return Buffer.from(`${text}\0`);
}

function fail(syscall: string, path: string, errno: number, detail: string): LibcError {
  const code = ERRNO_NAMES[errno] ?? `errno ${errno}`;
  return Object.assign(new Error(`${code}: ${syscall}(${path}${detail}) failed`), { code, errno, syscall, path });
}

/** Sets an extended attribute on `path` itself, never on what a symlink points to. */
export function lsetxattr(path: string, name: string, value: Uint8Array): void {
  const { lsetxattr: call, errno } = loadLibc();
  // An empty value is legal; a zero-length buffer may not have a usable address, so pass NULL.
  const result = call(cString(path), cString(name), value.length === 0 ? null : value, value.length);
  if (result !== 0) throw fail("lsetxattr", path, errno(), `, ${name}`);
}

/** glibc's makedev (sys/sysmacros.h): 12 bits of major and 20 of minor, split around each other. */
function makedev(major: number, minor: number): number | bigint {
  if (darwin) return ((major & 0xff) << 24) | (minor & 0xffffff);
  const high = ((BigInt(major) & 0xfffff000n) << 32n) | ((BigInt(minor) & 0xffffff00n) << 12n);
  return high | BigInt(((major & 0xfff) << 8) | (minor & 0xff));
}

export const S_IFIFO = 0o010000;
export const S_IFCHR = 0o020000;
export const S_IFBLK = 0o060000;

/**
 * Creates a device node or fifo. `type` is S_IFCHR, S_IFBLK or S_IFIFO; the permission
 * bits pass through the umask, so callers chmod afterwards. Throws ENOSYS when libc has no
 * mknod symbol, EPERM when the caller may not make devices (no CAP_MKNOD, a user namespace).
 */
export function mknod(path: string, type: number, permissions: number, major = 0, minor = 0): void {
  const { mknod: call, errno } = loadLibc();
  if (call === undefined) throw fail("mknod", path, darwin ? 78 : 38, "");
  const result = call(cString(path), type | (permissions & 0o7777), makedev(major, minor));
  if (result !== 0) throw fail("mknod", path, errno(), "");
}
