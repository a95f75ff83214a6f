import { expect, test } from "bun:test";
import { join } from "node:path";

const repoRoot = join(import.meta.dir, "..");

// The guest agent's C tests (golden vectors, JSON, users, session, event loop, file copies, fuzzing)
// under ASan/UBSan.
test("the guest agent's C tests pass", () => {
  const run = Bun.spawnSync(["make", "-C", "guest", "test"], { cwd: repoRoot, stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) console.log(`${run.stdout.toString()}\n${run.stderr.toString()}`);
  expect(run.exitCode).toBe(0);
}, 180_000);
