/**
 * ABI of libkrun (`include/libkrun.h` of github.com/containers/libkrun): the symbols the
 * krun backend uses, by their C names and types, loaded on first use. ffi.test.ts checks
 * them against the header's prototypes as of v1.19.0 (test/fixtures/libkrun-api/).
 * src/vmm/krun/context.ts is the typed wrapper; nothing else should call these.
 */
import { dlopen, FFIType, type Library } from "bun:ffi";
import type { Config } from "../../config/config.ts";
import { BoxliteError } from "../../util/errors.ts";

/**
 * The oldest libkrun that has every symbol below: krun_add_virtiofs3 (read-only shares)
 * arrived in v1.18.0, krun_disable_implicit_vsock and krun_add_vsock in v1.17.0,
 * krun_add_net_unixstream in v1.15.0. An older library fails to load with a missing
 * symbol, reported as "too old".
 */
export const LIBKRUN_MIN_VERSION = "1.18.0";

// Every call returns int32_t: 0 (or an id) on success, -errno on failure. A `const char *`
// is a pointer to a NUL-terminated string; a `const char *const []` is a pointer to a
// NULL-terminated array of them.
export const SIGNATURES = {
  // int32_t krun_set_log_level(uint32_t level);
  krun_set_log_level: { args: [FFIType.u32], returns: FFIType.i32 },
  // int32_t krun_create_ctx();
  krun_create_ctx: { args: [], returns: FFIType.i32 },
  // int32_t krun_free_ctx(uint32_t ctx_id);
  krun_free_ctx: { args: [FFIType.u32], returns: FFIType.i32 },
  // int32_t krun_set_vm_config(uint32_t ctx_id, uint8_t num_vcpus, uint32_t ram_mib);
  krun_set_vm_config: { args: [FFIType.u32, FFIType.u8, FFIType.u32], returns: FFIType.i32 },
  // int32_t krun_set_kernel(uint32_t ctx_id, const char *kernel_path, uint32_t kernel_format, const char *initramfs, const char *cmdline);
  krun_set_kernel: { args: [FFIType.u32, FFIType.ptr, FFIType.u32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
  // int32_t krun_add_disk2(uint32_t ctx_id, const char *block_id, const char *disk_path, uint32_t disk_format, bool read_only);
  krun_add_disk2: { args: [FFIType.u32, FFIType.ptr, FFIType.ptr, FFIType.u32, FFIType.bool], returns: FFIType.i32 },
  // int32_t krun_add_net_unixstream(uint32_t ctx_id, const char *c_path, int fd, uint8_t *const c_mac, uint32_t features, uint32_t flags);
  krun_add_net_unixstream: { args: [FFIType.u32, FFIType.ptr, FFIType.i32, FFIType.ptr, FFIType.u32, FFIType.u32], returns: FFIType.i32 },
  // int32_t krun_add_virtiofs3(uint32_t ctx_id, const char *c_tag, const char *c_path, uint64_t shm_size, bool read_only);
  krun_add_virtiofs3: { args: [FFIType.u32, FFIType.ptr, FFIType.ptr, FFIType.u64, FFIType.bool], returns: FFIType.i32 },
  // int32_t krun_disable_implicit_vsock(uint32_t ctx_id);
  krun_disable_implicit_vsock: { args: [FFIType.u32], returns: FFIType.i32 },
  // int32_t krun_add_vsock(uint32_t ctx_id, uint32_t tsi_features);
  krun_add_vsock: { args: [FFIType.u32, FFIType.u32], returns: FFIType.i32 },
  // int32_t krun_add_vsock_port2(uint32_t ctx_id, uint32_t port, const char *c_filepath, bool listen);
  krun_add_vsock_port2: { args: [FFIType.u32, FFIType.u32, FFIType.ptr, FFIType.bool], returns: FFIType.i32 },
  // int32_t krun_set_console_output(uint32_t ctx_id, const char *c_filepath);
  krun_set_console_output: { args: [FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
  // int32_t krun_set_rlimits(uint32_t ctx_id, const char *const rlimits[]);
  krun_set_rlimits: { args: [FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
  // int32_t krun_set_env(uint32_t ctx_id, const char *const envp[]);
  krun_set_env: { args: [FFIType.u32, FFIType.ptr], returns: FFIType.i32 },
  // int32_t krun_start_enter(uint32_t ctx_id);  never returns on success: exit()s the process
  krun_start_enter: { args: [FFIType.u32], returns: FFIType.i32 },
} as const;

export type KrunSymbolName = keyof typeof SIGNATURES;

/** The libkrun functions, typed from their C signatures. */
export type KrunSymbols = Library<typeof SIGNATURES>["symbols"];

// libkrun.h constants used by the wrapper's callers.
export const KRUN_DISK_FORMAT_RAW = 0;
export const KRUN_DISK_FORMAT_QCOW2 = 1;
export const KRUN_KERNEL_FORMAT_RAW = 0;
export const KRUN_KERNEL_FORMAT_ELF = 1;
/**
 * krun_add_net_*'s features: COMPAT_NET_FEATURES, the virtio-net offloads the deprecated
 * calls used and the reference passes (CSUM | GUEST_CSUM | GUEST_TSO4 | GUEST_UFO |
 * HOST_TSO4 | HOST_UFO).
 */
export const COMPAT_NET_FEATURES = (1 << 0) | (1 << 1) | (1 << 7) | (1 << 10) | (1 << 11) | (1 << 14);
/** krun_add_vsock's tsi_features: 0 is a vsock without TSI (no network). */
export const KRUN_TSI_HIJACK_INET = 1;
export const KRUN_TSI_HIJACK_UNIX = 2;

/** A loaded libkrun: where it came from and its symbols. */
export interface Libkrun {
  path: string;
  symbols: KrunSymbols;
}

/** Where libkrun is looked for, in order: the configured path alone, else the soname and the usual install locations. */
export function libkrunCandidates(config: Pick<Config, "libkrun">): string[] {
  if (config.libkrun) return [config.libkrun];
  if (process.platform === "darwin") {
    return ["libkrun.1.dylib", "/opt/homebrew/lib/libkrun.1.dylib", "/usr/local/lib/libkrun.1.dylib"];
  }
  return ["libkrun.so.1", "/usr/lib64/libkrun.so.1", "/usr/local/lib64/libkrun.so.1", "/usr/local/lib/libkrun.so.1"];
}

const loaded = new Map<string, Libkrun>();

/**
 * Loads libkrun (once per path; not at import, so a box on qemu never pays for it).
 * A library that is absent, or too old to have every symbol, is a missing_dependency.
 */
export function loadLibkrun(config: Pick<Config, "libkrun">): Libkrun {
  const candidates = libkrunCandidates(config);
  const failures: string[] = [];
  let tooOld: string | undefined;
  for (const path of candidates) {
    const cached = loaded.get(path);
    if (cached) return cached;
    try {
      const library: Libkrun = { path, symbols: dlopen(path, SIGNATURES).symbols };
      loaded.set(path, library);
      return library;
    } catch (cause) {
      const message = cause instanceof Error ? (cause.message.split("\n")[0] ?? "") : String(cause);
      if (/^Symbol ".*" not found/.test(message)) tooOld ??= `${path} (${message})`;
      failures.push(`${path}: ${message}`);
    }
  }
  const install = `install libkrun ≥ ${LIBKRUN_MIN_VERSION} (Fedora/Arch: libkrun, Homebrew: slp/krun/libkrun, Nix: libkrun) or set BOXLITE_LIBKRUN to its path`;
  const what = tooOld ? `libkrun is too old: ${tooOld}` : `libkrun was not found; tried ${candidates.join(", ")}`;
  throw new BoxliteError("missing_dependency", `${what}; ${install}`, { cause: new Error(failures.join("; ")) });
}
