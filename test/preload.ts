/**
 * Test environment: a throwaway home per test process, TCG forced so that no test pays
 * for (or depends on) the KVM probe, and a timeout fit for VM tests, which boot real
 * guests under software emulation: a loaded 2-core machine can take many seconds.
 * The runtime cache (kernel, system disk) is shared across runs, like a user's.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, setDefaultTimeout } from "bun:test";

setDefaultTimeout(180_000);
const home = mkdtempSync(join(tmpdir(), "boxlite-test-home-"));
process.env.BOXLITE_HOME = home;
process.env.BOXLITE_ACCEL = "tcg";
// Detached boxes outlive the tests that made them (that is their point): stop them all
// before the home goes, so a failed test never leaves a supervisor and a VM running.
afterAll(() => {
  Bun.spawnSync([process.execPath, join(import.meta.dir, "..", "src", "main.ts"), "rm", "-a", "-f"], { env: process.env, stdout: "ignore", stderr: "ignore" });
  rmSync(home, { recursive: true, force: true });
});
