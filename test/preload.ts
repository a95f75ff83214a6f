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
// Boxes have a network: their DNS must never reach the machine's resolver (the tests'
// traffic stays on this host). Port 9 on loopback answers nothing; tests that resolve
// names start their own server and point BOXLITE_DNS at it.
process.env.BOXLITE_DNS = "127.0.0.1:9";
// Detached boxes outlive the tests that made them (that is their point): stop them all
// before the home goes, so a failed test never leaves a supervisor and a VM running.
afterAll(() => {
  Bun.spawnSync([process.execPath, join(import.meta.dir, "..", "src", "main.ts"), "rm", "-a", "-f"], { env: process.env, stdout: "ignore", stderr: "ignore" });
  rmSync(home, { recursive: true, force: true });
});
