/**
 * The soak's short variant (scripts/soak.ts; the long one is run by hand, docs/security.md):
 * half a minute of boxes made, used, snapshotted, stopped and removed by two clients — one on
 * the home, one through `boxlite serve` — while processes are killed at random. It fails on
 * what must never happen: a box that does not answer or reads another's data, anything left
 * once all is removed, a damaged database.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";

test("half a minute of load with a kill every few seconds leaves every box answering and nothing behind", async () => {
  const soak = Bun.spawn(
    [process.execPath, join(import.meta.dir, "..", "..", "scripts", "soak.ts"), "--minutes", "0.5", "--clients", "2", "--chaos-ms", "3000"],
    {
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [report, errors, code] = await Promise.all([new Response(soak.stdout).text(), new Response(soak.stderr).text(), soak.exited]);
  console.log(report);
  expect(code, `${report}\n${errors}`).toBe(0);
  expect(report).toContain("leaks: 0");
  expect(report).toContain("PRAGMA integrity_check: ok");
  expect(Number(/operations: (\d+)/.exec(report)?.[1])).toBeGreaterThan(20);
});
