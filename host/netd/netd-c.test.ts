import { expect, test } from "bun:test";

// netd's pure parts (the allow-list, DNS messages, TLS SNI and HTTP Host peeking) and their
// fuzzers, under ASan/UBSan.
test("netd's C tests pass", () => {
  const run = Bun.spawnSync(["make", "-C", import.meta.dir, "test"], { stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) console.log(`${run.stdout.toString()}\n${run.stderr.toString()}`);
  expect(`${run.stdout}`).toMatch(/test_peek: \d+ checks passed/);
  expect(run.exitCode).toBe(0);
}, 180_000);
