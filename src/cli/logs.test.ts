import { expect, test } from "bun:test";
import { lastLines } from "./logs.ts";

test("lastLines keeps the last N lines and the final newline", () => {
  expect(lastLines("a\nb\nc\n", 2)).toBe("b\nc\n");
  expect(lastLines("a\nb\nc", 1)).toBe("c");
  expect(lastLines("a\nb\n", 5)).toBe("a\nb\n");
  expect(lastLines("a\nb\n", 0)).toBe("a\nb\n");
  expect(lastLines("", 3)).toBe("");
});
