/**
 * Advisory file locks (flock(2)) through bun:ffi: Bun has no file-lock API, and flock is
 * what the reference boxlite uses on `.lock`. The kernel drops a lock when its holder
 * dies, so a dead holder never blocks anyone: its lock is simply free again.
 *
 * The one bun:ffi use outside vmm/ and disk/ (see test/style.test.ts): it binds libc,
 * not a library of ours.
 */
import { dlopen, FFIType, read } from "bun:ffi";
import { closeSync, openSync, readFileSync, writeSync, ftruncateSync } from "node:fs";
import { BoxliteError } from "./errors.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const EWOULDBLOCK = process.platform === "darwin" ? 35 : 11;

type Libc = { flock(fd: number, operation: number): number; errno(): number };
let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  const darwin = process.platform === "darwin";
  const lib = dlopen(darwin ? "libSystem.B.dylib" : "libc.so.6", {
    flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    [darwin ? "__error" : "__errno_location"]: { args: [], returns: FFIType.ptr },
  });
  const errnoLocation = lib.symbols[darwin ? "__error" : "__errno_location"] as () => number | null;
  libc = {
    flock: (fd, operation) => lib.symbols.flock(fd, operation) as number,
    errno: () => {
      const location = errnoLocation();
      return location ? read.i32(location, 0) : 0;
    },
  };
  return libc;
}

/** What a lock file says about its holder: for "busy" messages only, never trusted for ownership. */
export interface LockHolder {
  pid: number;
  operation: string;
  since: string;
}

export class FileLock implements Disposable {
  private constructor(
    readonly path: string,
    private fd: number | undefined,
  ) {}

  /** Takes the lock without waiting; returns undefined with the holder's note when it is taken. */
  static tryAcquire(path: string, operation: string): FileLock | { busy: LockHolder | undefined } {
    const fd = openSync(path, "a+", 0o644);
    const { flock, errno } = loadLibc();
    if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
      const code = errno();
      closeSync(fd);
      if (code !== EWOULDBLOCK) throw new BoxliteError("internal", `flock(${path}) failed with errno ${code}`);
      return { busy: readHolder(path) };
    }
    ftruncateSync(fd, 0);
    writeSync(fd, JSON.stringify({ pid: process.pid, operation, since: new Date().toISOString() } satisfies LockHolder));
    return new FileLock(path, fd);
  }

  /** Waits for the lock up to timeoutMs, polling (a blocking flock would stall the event loop). */
  static async acquire(path: string, operation: string, timeoutMs: number): Promise<FileLock> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const attempt = FileLock.tryAcquire(path, operation);
      if (attempt instanceof FileLock) return attempt;
      if (Date.now() > deadline) throw busyError(path, attempt.busy);
      await Bun.sleep(10);
    }
  }

  release(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd); // closing the descriptor drops the flock
    this.fd = undefined;
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

function readHolder(path: string): LockHolder | undefined {
  try {
    const holder = JSON.parse(readFileSync(path, "utf8")) as LockHolder;
    return typeof holder.pid === "number" ? holder : undefined;
  } catch {
    return undefined;
  }
}

export function busyError(what: string, holder: LockHolder | undefined): BoxliteError {
  const by = holder ? `${holder.operation} by pid ${holder.pid} since ${holder.since}` : "by another process";
  return new BoxliteError("busy", `${what} is busy: ${by}; wait for it to finish and retry`);
}
