/**
 * How to run boxlite's own CLI as a child process (a detached box's supervisor). The
 * compiled executable is its own program (its modules live in Bun's embedded `/$bunfs/`);
 * from source — the CLI, or a Bun program that imports boxlite as a library — it is
 * `bun <repo>/src/main.ts`, found beside this module, never the importing program.
 */
import { join } from "node:path";

/** True in the compiled executable, whose modules live in Bun's embedded `/$bunfs/`. */
export function isCompiled(): boolean {
  return import.meta.dir.startsWith("/$bunfs/");
}

/**
 * A worker thread's entry, `path` under src/ (e.g. "disk/pack-worker.ts"). From source it is
 * that module; the compiled executable holds it as an entry point of its own (scripts/build.ts)
 * at the same path under Bun's embedded root, where import.meta.url names the main bundle.
 */
export function workerUrl(path: string): URL {
  return new URL(isCompiled() ? `./${path}` : `../${path}`, import.meta.url);
}

export function selfCommand(): string[] {
  return isCompiled() ? [process.execPath] : [process.execPath, join(import.meta.dir, "..", "main.ts")];
}
