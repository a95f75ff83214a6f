import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { selfCommand } from "./self.ts";

test("from source, the child is bun running boxlite's own main.ts, whoever imported the library", () => {
  const [bun, main] = selfCommand();
  expect(bun).toBe(process.execPath);
  expect(main).toMatch(/\/src\/main\.ts$/);
  expect(existsSync(main as string)).toBe(true);
});
