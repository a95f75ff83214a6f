/**
 * Typed wrapper over ffi/qcow2: create thin overlays, read headers, rewrite the
 * backing-file path, flatten a backing chain (into a file, or compressed into an archive),
 * compress a file into an archive. Every negative errno becomes a BoxliteError that names the
 * operation, the file, the errno and what to do.
 */
import { constants } from "node:os";
import { BoxliteError, type ErrorCode } from "../util/errors.ts";
import { packSymbols, qcow2Symbols } from "./ffi.ts";

/** Formats a backing file may have (all that qcow2_create_overlay accepts). */
export type BackingFormat = "raw" | "qcow2";

/** What a qcow2 header says about an image. */
export interface Qcow2Info {
  /** 2 or 3. */
  version: number;
  /** Bytes per cluster. */
  clusterSize: number;
  /** Size of the disk the guest sees, in bytes. */
  virtualSize: number;
  /** Incompatible feature bits (0n for v2); bit 0 dirty, bit 1 corrupt. */
  incompatibleFeatures: bigint;
  /** As stored: a relative name is relative to the image's directory. Absent when none. */
  backingFile?: string;
  /** From the backing-format header extension; absent when the image has none. */
  backingFormat?: string;
}

/** A new overlay: `path` must not exist; `backingFile` is stored as given. */
export interface CreateOverlayOptions {
  path: string;
  backingFile: string;
  backingFormat: BackingFormat;
  /** Bytes, a positive multiple of 512. Default: the backing file's (virtual) size. */
  virtualSize?: number;
}

// struct qcow2_info in ffi/qcow2/qcow2.h, in host byte order. The C side
// static_asserts the same offsets; readQcow2Info checks the size at run time.
const INFO_OFFSET = {
  version: 0,
  clusterBits: 4,
  virtualSize: 8,
  incompatibleFeatures: 16,
  backingFile: 24,
  backingFormat: 1048,
} as const;
const INFO_SIZE = 1080;
const BACKING_FILE_CAP = 1024; // QCOW2_PATH_MAX + 1
const BACKING_FORMAT_CAP = 32;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const BACKING_FORMATS: readonly string[] = ["raw", "qcow2"] satisfies BackingFormat[];

// errno numbers differ between Linux and macOS; node:os knows this host's. Where
// two names share a number (ENOTSUP/EOPNOTSUPP) the first listed wins.
const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name);
}

interface Reason {
  code: ErrorCode;
  why: string;
  todo: string;
}

const NOT_QCOW2: Reason = {
  code: "disk",
  why: "not a qcow2 image, or truncated or corrupt",
  todo: "check the file, or recreate the disk",
};
const COMMON_REASONS: Partial<Record<string, Reason>> = {
  EINVAL: NOT_QCOW2,
  ENOTSUP: { code: "disk", why: "a qcow2 version other than 2 or 3", todo: "convert it with qemu-img to qcow2 v3" },
  ENOENT: { code: "not_found", why: "the file does not exist", todo: "check the path" },
  ENAMETOOLONG: {
    code: "invalid_argument",
    why: "the backing path is longer than 1023 bytes",
    todo: "use a shorter (for example relative) path",
  },
  EACCES: { code: "disk", why: "permission denied", todo: "check the owner and mode of the file and its directory" },
  ENOSPC: { code: "disk", why: "no space left on the device", todo: "free some disk space" },
};
const CREATE_REASONS: Partial<Record<string, Reason>> = {
  ...COMMON_REASONS,
  ENOENT: {
    code: "not_found",
    why: "the backing file (a relative one is looked up next to the overlay) or the overlay's directory is missing",
    todo: "check both paths",
  },
  EEXIST: { code: "disk", why: "the destination already exists", todo: "remove it or choose another path" },
  EINVAL: { ...NOT_QCOW2, why: "the backing file is not a valid image of the given format" },
  EFBIG: {
    code: "invalid_argument",
    why: "the virtual size is larger than qcow2 allows",
    todo: "choose a smaller size",
  },
};
const SET_BACKING_REASONS: Partial<Record<string, Reason>> = {
  ...COMMON_REASONS,
  ENOSPC: {
    code: "invalid_argument",
    why: "the new backing path does not fit in the image's first cluster (the image is unchanged)",
    todo: "use a shorter path",
  },
};

const FLATTEN_REASONS: Partial<Record<string, Reason>> = {
  ...COMMON_REASONS,
  ENOENT: {
    code: "not_found",
    why: "the image, a file of its backing chain, or the destination's directory is missing",
    todo: "check the paths (a relative backing name is looked up next to the image naming it)",
  },
  EEXIST: { code: "already_exists", why: "the destination already exists", todo: "remove it or choose another path" },
  EINVAL: { ...NOT_QCOW2, why: "an image of the backing chain is not valid qcow2, is truncated, or is marked corrupt" },
  ENOTSUP: {
    code: "unsupported",
    why: "an image of the chain uses what boxlite cannot read: compressed clusters, encryption, an external data file, extended L2 entries, a backing format other than raw or qcow2, or a qcow2 version other than 2 or 3",
    todo: "rewrite it without them, for example with qemu-img convert -O qcow2",
  },
  ELOOP: {
    code: "disk",
    why: "the backing chain is deeper than 64 images or loops back on itself",
    todo: "check the backing files with qemu-img info --backing-chain",
  },
  EFBIG: { code: "disk", why: "the disk is larger than a qcow2 image can map (2 PiB)", todo: "check the image's header" },
  EISDIR: { code: "disk", why: "a file of the backing chain is a directory", todo: "check the backing paths" },
};

/**
 * Merge `src` and its whole backing chain into one standalone sparse qcow2 v3 at `dst`
 * (no backing file, only non-zero clusters written), as `qemu-img convert -O qcow2`
 * would. Every image of the chain is treated as untrusted. `dst` must not exist; on
 * failure nothing is left there. Blocks until done: about as long as qemu-img convert
 * with a flush (ffi/qcow2/bench.ts).
 */
export function flatten(src: string, dst: string): void {
  const operation = `flatten ${src} into ${dst}`;
  if (src === "" || dst === "") throw invalid(operation, "a path is empty");
  const srcArg = cString(operation, src);
  const dstArg = cString(operation, dst);
  const result = qcow2Symbols().qcow2_flatten(srcArg, dstArg, 0);
  if (result < 0) throw failure(operation, result, FLATTEN_REASONS);
}

const FLATTEN_FD_REASONS: Partial<Record<string, Reason>> = {
  ...FLATTEN_REASONS,
  ESTALE: { code: "disk", why: "the backing chain changed while it was read", todo: "hold the disk still and try again" },
};

/**
 * The size in bytes of the image `flattenCompressed` writes for `src`, from the chain's
 * tables alone (no data is read). The chain must hold still until `flattenCompressed` has run.
 */
export function flattenedSize(src: string): number {
  const operation = `plan the flattening of ${src}`;
  if (src === "") throw invalid(operation, "a path is empty");
  const out = new BigUint64Array(1);
  const result = qcow2Symbols().qcow2_flatten_size(cString(operation, src), out);
  if (result < 0) throw failure(operation, result, FLATTEN_FD_REASONS);
  return Number(out[0]);
}

/** How an archive member is compressed: zstd's level, and how many threads of its own compress. */
export interface Compression {
  level: number;
  workers: number;
}

function checkSize(operation: string, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) throw invalid(operation, `the size ${size} is not a byte count`);
}

function digestOf(digest: Uint8Array): string {
  return `sha256:${Buffer.from(digest).toString("hex")}`;
}

/**
 * Write `src` and its whole backing chain as one standalone qcow2 v3 image (every cluster
 * the chain allocates, zeros included; exactly `size` bytes, which must be
 * `flattenedSize(src)`), compressed as one zstd frame appended at the open descriptor
 * `fd`'s offset; returns the image's SHA-256 as "sha256:<hex>". Blocks until done (run it
 * on a worker, pack-thread.ts); on failure `fd` has a prefix of the frame, for the caller to discard.
 */
export function flattenCompressed(src: string, fd: number, size: number, compression: Compression): string {
  const operation = `flatten ${src} into an archive`;
  if (src === "") throw invalid(operation, "a path is empty");
  checkSize(operation, size);
  const digest = new Uint8Array(32);
  const result = packSymbols().qcow2_flatten_zstd(cString(operation, src), fd, BigInt(size), compression.level, compression.workers, digest);
  if (result < 0) throw failure(operation, result, FLATTEN_FD_REASONS);
  return digestOf(digest);
}

const FILE_REASONS: Partial<Record<string, Reason>> = {
  ESTALE: { code: "disk", why: "the file changed size while it was read", todo: "hold it still and try again" },
};

/**
 * Compress the first `size` bytes of the file open at `input` as one zstd frame appended
 * at `fd`'s offset; returns their SHA-256 as "sha256:<hex>". The file must hold exactly
 * `size` bytes. Blocks until done, as `flattenCompressed`.
 */
export function compressFile(input: { fd: number; path: string }, size: number, fd: number, compression: Compression): string {
  const operation = `compress ${input.path} into an archive`;
  checkSize(operation, size);
  const digest = new Uint8Array(32);
  const result = packSymbols().qcow2_zstd_file(input.fd, BigInt(size), fd, compression.level, compression.workers, digest);
  if (result < 0) throw failure(operation, result, FILE_REASONS);
  return digestOf(digest);
}

/**
 * The errno name behind a BoxliteError thrown by this module ("EINVAL" for a corrupt
 * image, "EIO" for a read fault, ...), or undefined for any other error.
 */
export function qcow2ErrnoOf(error: unknown): string | undefined {
  if (!(error instanceof BoxliteError) || !(error.cause instanceof Qcow2Errno)) return undefined;
  return error.cause.errno;
}

/** The cause of a failed libqcow2 call, keeping its errno name for callers that branch on it. */
export class Qcow2Errno extends Error {
  constructor(
    readonly errno: string,
    options?: { cause?: unknown },
  ) {
    super(errno, options);
    this.name = "Qcow2Errno";
  }
}

/** Create a thin qcow2 v3 overlay on `backingFile`, fsync'd; on failure nothing is left at `path`. */
export function createOverlay(options: CreateOverlayOptions): void {
  const { path, backingFile, backingFormat, virtualSize } = options;
  const operation = `create overlay ${path} on ${backingFile}`;
  checkFormat(operation, backingFormat);
  if (backingFile === "") throw invalid(operation, "the backing file path is empty");
  if (virtualSize !== undefined && !(Number.isSafeInteger(virtualSize) && virtualSize > 0 && virtualSize % 512 === 0)) {
    throw invalid(operation, `virtual size ${virtualSize} is not a positive multiple of 512 bytes`);
  }
  const pathArg = cString(operation, path);
  const backingArg = cString(operation, backingFile);
  const formatArg = cString(operation, backingFormat);
  const result = qcow2Symbols().qcow2_create_overlay(pathArg, backingArg, formatArg, BigInt(virtualSize ?? 0));
  if (result < 0) throw failure(operation, result, CREATE_REASONS);
}

/** Read the header of a qcow2 v2 or v3 image. The file is treated as untrusted. */
export function readQcow2Info(path: string): Qcow2Info {
  const operation = `read qcow2 header of ${path}`;
  const symbols = qcow2Symbols();
  if (symbols.qcow2_info_size() !== BigInt(INFO_SIZE)) {
    const why = "libqcow2's struct qcow2_info does not match src/disk/qcow2.ts";
    throw new BoxliteError("internal", `${operation}: ${why}; rebuild boxlite`);
  }
  const pathArg = cString(operation, path);
  const out = new Uint8Array(INFO_SIZE);
  const result = symbols.qcow2_read_info(pathArg, out);
  if (result < 0) throw failure(operation, result, COMMON_REASONS);

  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const virtualSize = view.getBigUint64(INFO_OFFSET.virtualSize, HOST_LITTLE_ENDIAN);
  if (virtualSize > BigInt(Number.MAX_SAFE_INTEGER)) {
    const why = `virtual size ${virtualSize} is beyond 2^53 bytes, so the header is corrupt`;
    throw new BoxliteError("disk", `${operation}: ${why}; check the file, or recreate the disk`);
  }
  const info: Qcow2Info = {
    version: view.getUint32(INFO_OFFSET.version, HOST_LITTLE_ENDIAN),
    clusterSize: 2 ** view.getUint32(INFO_OFFSET.clusterBits, HOST_LITTLE_ENDIAN),
    virtualSize: Number(virtualSize),
    incompatibleFeatures: view.getBigUint64(INFO_OFFSET.incompatibleFeatures, HOST_LITTLE_ENDIAN),
  };
  const backingFile = readCString(out, INFO_OFFSET.backingFile, BACKING_FILE_CAP);
  const backingFormat = readCString(out, INFO_OFFSET.backingFormat, BACKING_FORMAT_CAP);
  if (backingFile !== "") info.backingFile = backingFile;
  if (backingFormat !== "") info.backingFormat = backingFormat;
  return info;
}

/** Point an image at a new backing file in place (the file need not exist yet), fsync'd. */
export function setBackingFile(path: string, backingFile: string, backingFormat: BackingFormat): void {
  const operation = `set backing file of ${path} to ${backingFile}`;
  checkFormat(operation, backingFormat);
  if (backingFile === "") throw invalid(operation, "the backing file path is empty");
  const pathArg = cString(operation, path);
  const backingArg = cString(operation, backingFile);
  const formatArg = cString(operation, backingFormat);
  const result = qcow2Symbols().qcow2_set_backing(pathArg, backingArg, formatArg);
  if (result < 0) throw failure(operation, result, SET_BACKING_REASONS);
}

function checkFormat(operation: string, format: string): void {
  // The type says so, but values also come from databases and imported files.
  if (!BACKING_FORMATS.includes(format)) {
    throw invalid(operation, `backing format "${format}" is not one of ${BACKING_FORMATS.join(", ")}`);
  }
}

function invalid(operation: string, why: string): BoxliteError {
  return new BoxliteError("invalid_argument", `${operation}: ${why}`);
}

// A NUL inside would silently cut the C string short, naming a different file.
function cString(operation: string, value: string): Uint8Array {
  if (value.includes("\0")) throw invalid(operation, "a path contains a NUL byte");
  return new TextEncoder().encode(`${value}\0`);
}

function readCString(bytes: Uint8Array, offset: number, cap: number): string {
  const field = bytes.subarray(offset, offset + cap);
  const end = field.indexOf(0);
  return new TextDecoder().decode(end < 0 ? field : field.subarray(0, end));
}

function failure(operation: string, result: number, reasons: Partial<Record<string, Reason>>): BoxliteError {
  const name = ERRNO_NAMES.get(-result) ?? `errno ${-result}`;
  const reason = reasons[name] ?? {
    code: "disk",
    why: "the file system refused",
    todo: "check the path, its permissions and free space",
  };
  return new BoxliteError(reason.code, `${operation}: ${reason.why} (${name}); ${reason.todo}`, {
    cause: new Qcow2Errno(name),
  });
}
