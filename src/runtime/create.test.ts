import { expect, test } from "bun:test";
import { newBoxId } from "./create.ts";

test("box ids increase even within one millisecond, so boxes made in the same millisecond list in creation order", () => {
  // A thousand ids take well under a millisecond each: most share their millisecond.
  const ids = Array.from({ length: 1000 }, () => newBoxId());
  expect(ids).toEqual([...ids].sort());
  expect(new Set(ids).size).toBe(ids.length);
  expect(ids.filter((id) => !/^[0-9a-hjkmnp-tv-z]{26}$/.test(id))).toEqual([]);
});
