/**
 * boxlite's seccomp filter for a jailed krun VM process (docs/security.md, "The jail
 * around each VMM"): libkrun has no sandbox of its own, as QEMU has `-sandbox`. Installed
 * by `boxlite __vm` itself on all its threads (TSYNC) once libkrun is configured, just
 * before the VM starts, so the filter also covers running programs: the VM process may
 * never start one again.
 *
 * A deny list, as QEMU's: what a VMM never needs and an escaped guest would want — running
 * programs and making processes (threads are allowed), changing its credentials,
 * namespaces, mounts, modules, tracing other processes, BPF, keyrings, the clock, the
 * host's name, rebooting. Each is refused with EPERM (clone3 with ENOSYS, so the C
 * library makes its threads with clone, whose flags a filter can see); a call of another
 * architecture's ABI (i386, x32) ends the process.
 */
import { dlopen, FFIType, ptr } from "bun:ffi";
import { BoxliteError } from "../../util/errors.ts";

/** x86_64 system call numbers (asm/unistd_64.h; seccomp.test.ts checks them against the header). */
export const DENIED_SYSCALLS: Readonly<Record<string, number>> = {
  fork: 57,
  vfork: 58,
  execve: 59,
  execveat: 322,
  ptrace: 101,
  syslog: 103,
  setuid: 105,
  setgid: 106,
  setreuid: 113,
  setregid: 114,
  setgroups: 116,
  setresuid: 117,
  setresgid: 119,
  capset: 126,
  uselib: 134,
  personality: 135,
  ustat: 136,
  sysfs: 139,
  vhangup: 153,
  pivot_root: 155,
  _sysctl: 156,
  adjtimex: 159,
  chroot: 161,
  acct: 163,
  settimeofday: 164,
  mount: 165,
  umount2: 166,
  swapon: 167,
  swapoff: 168,
  reboot: 169,
  sethostname: 170,
  setdomainname: 171,
  iopl: 172,
  ioperm: 173,
  create_module: 174,
  init_module: 175,
  delete_module: 176,
  get_kernel_syms: 177,
  query_module: 178,
  quotactl: 179,
  nfsservctl: 180,
  lookup_dcookie: 212,
  clock_settime: 227,
  kexec_load: 246,
  add_key: 248,
  request_key: 249,
  keyctl: 250,
  unshare: 272,
  perf_event_open: 298,
  fanotify_init: 300,
  name_to_handle_at: 303,
  open_by_handle_at: 304,
  clock_adjtime: 305,
  setns: 308,
  process_vm_readv: 310,
  process_vm_writev: 311,
  kcmp: 312,
  kexec_file_load: 320,
  bpf: 321,
  userfaultfd: 323,
  open_tree: 428,
  move_mount: 429,
  fsopen: 430,
  fsconfig: 431,
  fsmount: 432,
  fspick: 433,
  mount_setattr: 442,
};
export const SYS_CLONE = 56;
export const SYS_CLONE3 = 435;

const AUDIT_ARCH_X86_64 = 0xc000003e;
const X32_SYSCALL_BIT = 0x40000000;
const CLONE_THREAD = 0x10000;
const EPERM = 1;
const ENOSYS = 38;
const RET_KILL_PROCESS = 0x80000000;
const RET_ERRNO = 0x00050000;
const RET_ALLOW = 0x7fff0000;
// Classic BPF opcodes.
const LD_W_ABS = 0x20;
const JEQ_K = 0x15;
const JGE_K = 0x35;
const JSET_K = 0x45;
const RET_K = 0x06;
// struct seccomp_data: nr at 0, arch at 4, args[0] at 16 (its low word, little-endian).
const NR = 0;
const ARCH = 4;
const ARG0_LOW = 16;

type Insn = [code: number, jt: number, jf: number, k: number];

/** The filter's instructions (struct sock_filter), in order. */
export function filterProgram(): Insn[] {
  const deny = (errno: number): Insn => [RET_K, 0, 0, (RET_ERRNO | errno) >>> 0];
  return [
    [LD_W_ABS, 0, 0, ARCH],
    [JEQ_K, 1, 0, AUDIT_ARCH_X86_64],
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [LD_W_ABS, 0, 0, NR],
    [JGE_K, 0, 1, X32_SYSCALL_BIT],
    [RET_K, 0, 0, RET_KILL_PROCESS],
    [JEQ_K, 0, 1, SYS_CLONE3],
    deny(ENOSYS),
    // clone: a thread (CLONE_THREAD) goes on; a new process is refused.
    [JEQ_K, 0, 3, SYS_CLONE],
    [LD_W_ABS, 0, 0, ARG0_LOW],
    [JSET_K, 1, 0, CLONE_THREAD],
    deny(EPERM),
    [LD_W_ABS, 0, 0, NR],
    ...Object.values(DENIED_SYSCALLS).flatMap((nr): Insn[] => [[JEQ_K, 0, 1, nr], deny(EPERM)]),
    [RET_K, 0, 0, RET_ALLOW],
  ];
}

/** The program as struct sock_filter[] bytes: u16 code, u8 jt, u8 jf, u32 k, little-endian. */
export function encodeProgram(program: readonly Insn[]): Uint8Array {
  const bytes = new Uint8Array(program.length * 8);
  const view = new DataView(bytes.buffer);
  program.forEach(([code, jt, jf, k], index) => {
    view.setUint16(index * 8, code, true);
    view.setUint8(index * 8 + 2, jt);
    view.setUint8(index * 8 + 3, jf);
    view.setUint32(index * 8 + 4, k, true);
  });
  return bytes;
}

const SYS_PRCTL = 157;
const SYS_SECCOMP = 317;
const PR_SET_NO_NEW_PRIVS = 38;
const SECCOMP_SET_MODE_FILTER = 1;
const SECCOMP_FILTER_FLAG_TSYNC = 1;

/** Installs the filter on every thread of this process; it cannot be lifted. */
export function installFilter(): void {
  if (process.platform !== "linux" || process.arch !== "x64") throw new BoxliteError("unsupported", "boxlite's seccomp filter is written for x86_64 Linux");
  // syscall(2) itself: the C library's wrapper is assembly, so a variadic call through FFI is safe.
  // Six arguments always: prctl refuses PR_SET_NO_NEW_PRIVS unless the unused ones are zero.
  const i64 = FFIType.i64;
  const libc = dlopen("libc.so.6", { syscall: { args: [i64, i64, i64, i64, i64, i64], returns: i64 } });
  try {
    const filter = encodeProgram(filterProgram());
    // struct sock_fprog: unsigned short len, then (aligned) the pointer.
    const fprog = new BigUint64Array(2);
    fprog[0] = BigInt(filter.length / 8);
    fprog[1] = BigInt(ptr(filter));
    const call = libc.symbols.syscall;
    if (Number(call(SYS_PRCTL, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)) !== 0) throw new BoxliteError("vmm_failed", "the krun VM process could not set no_new_privs");
    const result = Number(call(SYS_SECCOMP, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, ptr(fprog), 0, 0));
    if (result !== 0) throw new BoxliteError("vmm_failed", `the krun VM process could not install its seccomp filter (seccomp returned ${result})`);
  } finally {
    libc.close();
  }
}
