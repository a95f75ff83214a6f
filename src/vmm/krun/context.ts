/**
 * The typed wrapper over src/vmm/krun/ffi.ts: one libkrun context as a disposable
 * handle. Methods are named after the calls they make; every return value is checked
 * (a negative one becomes a vmm_failed error naming the call and the errno), and every
 * string and string array handed to libkrun stays referenced here until the context is
 * freed, because libkrun may keep the pointers until krun_start_enter. No pointer
 * leaves this module.
 */
import { ptr, type Pointer } from "bun:ffi";
import { constants } from "node:os";
import { BoxliteError } from "../../util/errors.ts";
import { MAC_ADDRESS } from "../devices.ts";
import type { KRUN_DISK_FORMAT_QCOW2, KRUN_DISK_FORMAT_RAW, KRUN_KERNEL_FORMAT_ELF, KRUN_KERNEL_FORMAT_RAW, KrunSymbolName, Libkrun } from "./ffi.ts";

/** Always pinned, never probed: a qcow2 header can name backing files libkrun would open. */
export type KrunDiskFormat = typeof KRUN_DISK_FORMAT_RAW | typeof KRUN_DISK_FORMAT_QCOW2;
export type KrunKernelFormat = typeof KRUN_KERNEL_FORMAT_RAW | typeof KRUN_KERNEL_FORMAT_ELF;

const ERRNO_NAMES = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!ERRNO_NAMES.has(value)) ERRNO_NAMES.set(value, name); // first wins: EAGAIN before EWOULDBLOCK
}

/** "EINVAL (-22)" for -22; the bare number when the platform has no name for it. */
export function describeErrno(ret: number): string {
  const name = ERRNO_NAMES.get(-ret);
  return name ? `${name} (${ret})` : String(ret);
}

/** Returns ret when it is not negative, else throws vmm_failed naming the call. */
function check(call: KrunSymbolName, ret: number): number {
  if (ret < 0) throw new BoxliteError("vmm_failed", `${call} failed: ${describeErrno(ret)}`);
  return ret;
}

function checkUint(what: string, value: number, max: number): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new BoxliteError("invalid_argument", `${what} must be an integer from 0 to ${max}, not ${value}`);
  }
  return value;
}

const U32_MAX = 0xffff_ffff;

/** Sets libkrun's process-wide log level (0 = off … 5 = trace). */
export function setLogLevel(lib: Libkrun, level: number): void {
  check("krun_set_log_level", lib.symbols.krun_set_log_level(checkUint("log level", level, 5)));
}

export class KrunContext implements Disposable {
  /** Buffers libkrun may still point into: kept until the context is freed. */
  private readonly retained: Array<Buffer | BigUint64Array> = [];
  private freed = false;

  private constructor(
    private readonly lib: Libkrun,
    /** libkrun's context id (an integer handle, not a pointer). */
    readonly id: number,
  ) {}

  /** krun_create_ctx. */
  static create(lib: Libkrun): KrunContext {
    return new KrunContext(lib, check("krun_create_ctx", lib.symbols.krun_create_ctx()));
  }

  /** krun_set_vm_config: vCPUs are a uint8_t in libkrun, so 1–255. */
  setVmConfig(cpus: number, memoryMib: number): void {
    if (!Number.isInteger(cpus) || cpus < 1 || cpus > 255) {
      throw new BoxliteError("invalid_argument", `a libkrun VM has 1 to 255 vCPUs, not ${cpus}`);
    }
    const ret = this.symbols().krun_set_vm_config(this.id, cpus, checkUint("memory (MiB)", memoryMib, U32_MAX));
    check("krun_set_vm_config", ret);
  }

  /** krun_set_kernel: our kernel instead of libkrunfw's; initramfs may be null. */
  setKernel(kernelPath: string, format: KrunKernelFormat, initramfs: string | null, cmdline: string): void {
    const ret = this.symbols().krun_set_kernel(
      this.id,
      this.cString(kernelPath),
      format,
      initramfs === null ? null : this.cString(initramfs),
      this.cString(cmdline),
    );
    check("krun_set_kernel", ret);
  }

  /** krun_add_disk2: a block device with its format pinned. */
  addDisk2(blockId: string, path: string, format: KrunDiskFormat, readOnly: boolean): void {
    check("krun_add_disk2", this.symbols().krun_add_disk2(this.id, this.cString(blockId), this.cString(path), format, readOnly));
  }

  /**
   * krun_add_net_unixstream: a NIC whose backend listens on the unix stream socket at
   * `socketPath` (QEMU's stream protocol); the fd form (-1 here) is not used.
   */
  addNetUnixstream(socketPath: string, mac: string, features: number, flags: number): void {
    const ret = this.symbols().krun_add_net_unixstream(
      this.id,
      this.cString(socketPath),
      -1,
      this.macAddress(mac),
      checkUint("net features", features, U32_MAX),
      checkUint("net flags", flags, U32_MAX),
    );
    check("krun_add_net_unixstream", ret);
  }

  /** krun_add_virtiofs3: the host directory `path` as the virtio-fs share `tag`; shmSize 0 is no DAX window. */
  addVirtiofs3(tag: string, path: string, shmSize: number, readOnly: boolean): void {
    const ret = this.symbols().krun_add_virtiofs3(
      this.id,
      this.cString(tag),
      this.cString(path),
      checkUint("DAX window size", shmSize, Number.MAX_SAFE_INTEGER),
      readOnly,
    );
    check("krun_add_virtiofs3", ret);
  }

  /** krun_disable_implicit_vsock: no vsock (and so no TSI networking) unless added explicitly. */
  disableImplicitVsock(): void {
    check("krun_disable_implicit_vsock", this.symbols().krun_disable_implicit_vsock(this.id));
  }

  /** krun_add_vsock: tsiFeatures 0 gives a vsock with no network hijacking. */
  addVsock(tsiFeatures: number): void {
    check("krun_add_vsock", this.symbols().krun_add_vsock(this.id, checkUint("TSI features", tsiFeatures, U32_MAX)));
  }

  /** krun_add_vsock_port2: guest vsock port ⇄ host unix socket; listen=true when the guest listens. */
  addVsockPort2(port: number, socketPath: string, listen: boolean): void {
    const ret = this.symbols().krun_add_vsock_port2(this.id, checkUint("vsock port", port, U32_MAX), this.cString(socketPath), listen);
    check("krun_add_vsock_port2", ret);
  }

  /** krun_set_console_output: the implicit console writes to this file. */
  setConsoleOutput(path: string): void {
    check("krun_set_console_output", this.symbols().krun_set_console_output(this.id, this.cString(path)));
  }

  /** krun_set_rlimits: "RESOURCE=RLIM_CUR:RLIM_MAX" strings. */
  setRlimits(rlimits: readonly string[]): void {
    check("krun_set_rlimits", this.symbols().krun_set_rlimits(this.id, this.cStringArray(rlimits)));
  }

  /** krun_set_env: always an explicit array (NULL would copy the host's environment into the guest). */
  setEnv(envp: readonly string[]): void {
    check("krun_set_env", this.symbols().krun_set_env(this.id, this.cStringArray(envp)));
  }

  /**
   * krun_start_enter: on success libkrun runs the VM and exit()s the process with the
   * workload's code, so this returns only by throwing. Call it in a process of its own.
   */
  startEnter(): never {
    check("krun_start_enter", this.symbols().krun_start_enter(this.id));
    throw new BoxliteError("vmm_failed", "krun_start_enter returned without starting the VM");
  }

  /** krun_free_ctx, once; the buffers are released with it. */
  [Symbol.dispose](): void {
    if (this.freed) return;
    this.freed = true;
    const ret = this.lib.symbols.krun_free_ctx(this.id);
    this.retained.length = 0;
    check("krun_free_ctx", ret);
  }

  private symbols(): Libkrun["symbols"] {
    if (this.freed) throw new BoxliteError("internal", `libkrun context ${this.id} was used after krun_free_ctx`);
    return this.lib.symbols;
  }

  /** A NUL-terminated copy of value, retained with the context. */
  private cString(value: string): Pointer {
    if (value.includes("\0")) throw new BoxliteError("invalid_argument", `a libkrun string cannot contain NUL: ${JSON.stringify(value)}`);
    const buffer = Buffer.from(`${value}\0`, "utf8");
    this.retained.push(buffer);
    return ptr(buffer);
  }

  /** "5a:94:ef:e4:0c:ee" as the `uint8_t[6]` libkrun reads, retained with the context. */
  private macAddress(mac: string): Pointer {
    if (!MAC_ADDRESS.test(mac))
      throw new BoxliteError("invalid_argument", `a MAC address is six hex octets like 5a:94:ef:e4:0c:ee, not ${JSON.stringify(mac)}`);
    const buffer = Buffer.from(mac.split(":").map((octet) => Number.parseInt(octet, 16)));
    this.retained.push(buffer);
    return ptr(buffer);
  }

  /** A NULL-terminated `const char *const []`, retained (table and strings) with the context. */
  private cStringArray(values: readonly string[]): Pointer {
    const table = new BigUint64Array(values.length + 1); // the last slot stays 0: the NULL terminator
    values.forEach((value, index) => {
      table[index] = BigInt(this.cString(value));
    });
    this.retained.push(table);
    return ptr(table);
  }
}
