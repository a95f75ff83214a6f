/**
 * Crash-safe file primitives for migrations: every change is either not visible yet
 * or complete and on disk before the next one starts (fsync of the data, then of the
 * directory that names it), so a rerun after a crash at any point sees a state it
 * knows how to finish.
 */
import { closeSync, copyFileSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

/** fsync a file or a directory (a directory's fsync makes its renames and unlinks durable). */
export function fsyncPath(path: string): void {
  const fd = openSync(path, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` with `data` atomically and durably. */
export function writeFileDurable(path: string, data: string): void {
  const tmp = `${path}.tmp`;
  writeFileSync(tmp, data);
  fsyncPath(tmp);
  renameSync(tmp, path);
  fsyncPath(dirname(path));
}

export interface MoveFileOptions {
  /** Replaces fs.renameSync (tests force the cross-filesystem path with an EXDEV). */
  rename?: (from: string, to: string) => void;
  /** Called between the copy's publication and the source's removal (fault injection). */
  onCopied?: () => void;
}

/**
 * Moves `from` to `to`, replacing `to` like rename(2). Across filesystems (EXDEV) it
 * copies to `<to>.partial`, fsyncs, renames that into place and only then removes the
 * source: a crash leaves either the untouched source (and maybe a stale .partial, which
 * the next attempt overwrites) or a complete `to` beside the source.
 */
export function moveFile(from: string, to: string, options: MoveFileOptions = {}): void {
  const rename = options.rename ?? renameSync;
  try {
    rename(from, to);
  } catch (error) {
    if (!isErrno(error, "EXDEV")) throw error;
    const partial = `${to}.partial`;
    copyFileSync(from, partial);
    fsyncPath(partial);
    renameSync(partial, to);
    fsyncPath(dirname(to));
    options.onCopied?.();
    rmSync(from);
  }
  fsyncPath(dirname(to));
  if (dirname(from) !== dirname(to)) fsyncPath(dirname(from));
}

export function isErrno(error: unknown, code: string): boolean {
  return error instanceof Error && "code" in error && error.code === code;
}
