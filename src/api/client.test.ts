import { expect, test } from "bun:test";
import { imageFromWire } from "./client.ts";

const wire = { reference: "r:1", repository: "r", tag: "1", id: "sha256:ab", cached_at: "2026-01-01T00:00:00Z" };

test("a server's ImageInfo keeps its size, and one it leaves out or sends as null is null", () => {
  expect(imageFromWire({ ...wire, size_bytes: 42 }).size).toBe(42);
  expect(imageFromWire({ ...wire, size_bytes: null }).size).toBeNull();
  expect(imageFromWire(wire)).toEqual({ ...wire, size: null });
});
