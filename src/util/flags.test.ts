import { expect, test } from "bun:test";
import { BoxliteError } from "./errors.ts";
import { parseInteger } from "./flags.ts";

test("parseInteger refuses non-numbers with the flag's name", () => {
  expect(parseInteger("--cpus", "2")).toBe(2);
  expect(parseInteger("--cpus", undefined)).toBeUndefined();
  expect(() => parseInteger("--cpus", "two")).toThrow(/--cpus "two" is not a whole number/);
  expect(() => parseInteger("--memory", "1.5")).toThrow(BoxliteError);
});
