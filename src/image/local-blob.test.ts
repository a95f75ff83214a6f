import { expect, test } from "bun:test";
import { errorOf } from "../../test/helpers/errors.ts";
import { BoxliteError } from "../util/errors.ts";
import { digestInName, localCacheKey, memberSegments, sha256Digest, verifiedStream } from "./local-blob.ts";

async function* chunks(...parts: string[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield new TextEncoder().encode(part);
}

async function consume(stream: AsyncIterable<Uint8Array>): Promise<string> {
  let text = "";
  for await (const chunk of stream) text += new TextDecoder().decode(chunk);
  return text;
}

async function failure(stream: AsyncIterable<Uint8Array>): Promise<BoxliteError> {
  try {
    await consume(stream);
  } catch (error) {
    if (error instanceof BoxliteError) return error;
    throw error;
  }
  throw new Error("expected a BoxliteError");
}

const expected = { digest: sha256Digest("hello world"), size: 11 };

test("a verified stream passes matching bytes through unchanged", async () => {
  expect(await consume(verifiedStream(() => chunks("hello ", "world"), expected, "test"))).toBe("hello world");
});

test("a verified stream fails on other bytes, on too few and on too many", async () => {
  const other = await failure(verifiedStream(() => chunks("hello", " World"), expected, "layer 1"));
  expect(other.code).toBe("invalid_argument");
  expect(other.message).toBe(`layer 1: the blob hashes to ${sha256Digest("hello World")}, not ${expected.digest}; the image is corrupt — re-copy it`);
  expect((await failure(verifiedStream(() => chunks("hello"), expected, "s"))).message).toContain("shorter");
  expect((await failure(verifiedStream(() => chunks("hello world", "!"), expected, "s"))).message).toContain("longer");
});

test("a verified stream of a vanished file is not_found", async () => {
  const error = await failure(verifiedStream(() => Bun.file("/nonexistent/boxlite-blob").stream(), expected, "s"));
  expect(error.code).toBe("not_found");
});

test("member paths stay inside the archive", () => {
  expect(memberSegments("./a//b/c.tar", "m")).toEqual(["a", "b", "c.tar"]);
  for (const path of ["", "/etc/passwd", "../x", "a/../../x", "a/..", ".", "a\\..\\b"])
    expect(errorOf(() => memberSegments(path, "m")).code).toBe("invalid_argument");
});

test("digests are read from skopeo, docker and OCI blob names only", () => {
  const hex = "ab".repeat(32);
  expect(digestInName(`${hex}.tar`)).toBe(`sha256:${hex}`);
  expect(digestInName(`blobs/sha256/${hex}`)).toBe(`sha256:${hex}`);
  expect(digestInName(`${hex}.json`)).toBe(`sha256:${hex}`);
  expect(digestInName(`${hex}/layer.tar`)).toBeUndefined();
  expect(digestInName(`x${hex}.tar`)).toBeUndefined();
});

test("the cache key joins 8 hex of the path hash and 8 of the manifest digest", () => {
  const manifest = sha256Digest("manifest");
  expect(localCacheKey("/images/app", manifest)).toBe(`${sha256Digest("/images/app").slice(7, 15)}-${manifest.slice(7, 15)}`);
});
