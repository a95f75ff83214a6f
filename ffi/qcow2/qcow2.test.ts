import { expect, test } from "bun:test";

// The C tests (including the header fuzzer, under ASan/UBSan) are part of `bun test`.
test("the C tests of libqcow2 pass", () => {
  const result = Bun.spawnSync(["make", "-C", import.meta.dir, "test"]);
  const output = `${result.stdout}${result.stderr}`;
  expect(output).toMatch(/\d+ tests, \d+ passed, 0 failed/);
  expect(result.exitCode).toBe(0);
}, 120_000);
