import { expect, test } from "bun:test";

// The FUSE half driven with requests built by hand (confinement, read-only and single-file
// shares) and its fuzzer, under ASan/UBSan. Root only (it makes a device node).
test("fsd's C tests pass", async () => {
  const run = Bun.spawn(["make", "-C", import.meta.dir, "test"], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(run.stdout).text(), new Response(run.stderr).text(), run.exited]);
  if (code !== 0) console.log(`${stdout}\n${stderr}`);
  expect(stdout).toMatch(/test_inodes: \d+ checks passed/);
  expect(stdout).toMatch(/test_fs_server: \d+ checks passed/);
  expect(stdout).toMatch(/test_fd_cache: \d+ checks passed/);
  expect(code).toBe(0);
}, 180_000);
