import { expect, test } from "bun:test";
import { imageRow } from "./images.ts";

const image = {
  reference: "docker.io/library/alpine:3.20",
  repository: "docker.io/library/alpine",
  tag: "3.20",
  id: "sha256:0123456789abcdef0123",
  cached_at: "2026-01-01T00:00:00Z",
};

test("an image row shows the short id and the size", () => {
  expect(imageRow({ ...image, size: 3_500_000 })).toEqual(["docker.io/library/alpine", "3.20", "0123456789ab", "2026-01-01T00:00:00Z", "3.5 MB"]);
});

test("a size the server did not say is a dash, not 'null B'", () => {
  expect(imageRow({ ...image, size: null })[4]).toBe("-");
});
