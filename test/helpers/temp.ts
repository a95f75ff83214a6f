/** Temporary directories a test file makes, removed when it ends (a run must not leave homes and disks in /tmp). */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export class TempDirs {
  private readonly made: string[] = [];

  /** A new directory under the system temp dir whose name starts with `prefix`. */
  make(prefix: string): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.made.push(dir);
    return dir;
  }

  /** Removes every directory made so far; call it from the file's afterAll, once its boxes are gone. */
  removeAll(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}
