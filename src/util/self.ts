/**
 * How to run this boxlite again as a child process: the compiled executable is its own
 * program (its entry lives in Bun's embedded `/$bunfs/`), while from source the child is
 * `bun src/main.ts`.
 */
export function selfCommand(): string[] {
  return Bun.main.startsWith("/$bunfs/") ? [process.execPath] : [process.execPath, Bun.main];
}
