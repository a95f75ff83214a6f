/**
 * The modules that reach libqcow2 import it as a file, so the library must be built
 * before they are loaded (make does nothing when it is up to date): tests take them
 * from here instead of importing them directly.
 */
import type { Database } from "bun:sqlite";
import { afterAll, afterEach, beforeEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const build = Bun.spawnSync(["make", "-C", join(import.meta.dir, "../../ffi/qcow2")]);
if (build.exitCode !== 0) throw new Error(`make -C ffi/qcow2 failed:\n${build.stderr.toString()}`);

export const qcow2 = await import("../../src/disk/qcow2.ts");
export const database = await import("../../src/db/database.ts");
export const rootfsBase = await import("../../src/db/steps/rootfs-base.ts");

/** Gives every test of the calling file a new home database (closed after it), in a temp dir removed at the end. */
export function eachTestDatabase(prefix: string, use: (db: Database) => void): void {
  const root = mkdtempSync(join(tmpdir(), prefix));
  let counter = 0;
  let current: Database | undefined;
  beforeEach(() => {
    current = database.openDatabase({ home: join(root, String(counter++)), bootId: "boot" }).db;
    use(current);
  });
  afterEach(() => current?.close());
  afterAll(() => rmSync(root, { recursive: true, force: true }));
}
