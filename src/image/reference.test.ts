import { expect, test } from "bun:test";
import { BoxliteError } from "../util/errors.ts";
import { formatReference, parseReference } from "./reference.ts";

const canonical = (text: string) => formatReference(parseReference(text));
const DIGEST = `sha256:${"ab".repeat(32)}`;

test("short Docker Hub names get docker.io, library/ and :latest, as docker does", () => {
  expect(canonical("alpine")).toBe("docker.io/library/alpine:latest");
  expect(canonical("python:3.12-slim")).toBe("docker.io/library/python:3.12-slim");
  expect(canonical("bitnami/redis")).toBe("docker.io/bitnami/redis:latest");
  expect(canonical("index.docker.io/library/busybox:1.36")).toBe("docker.io/library/busybox:1.36");
});

test("a first component with a dot, a port or localhost is a registry", () => {
  expect(parseReference("127.0.0.1:5000/tests/busybox:v1")).toEqual({ registry: "127.0.0.1:5000", repository: "tests/busybox", tag: "v1" });
  expect(canonical("localhost/app")).toBe("localhost/app:latest");
  expect(canonical("ghcr.io/owner/repo/sub:tag")).toBe("ghcr.io/owner/repo/sub:tag");
  expect(canonical("[::1]:5000/app")).toBe("[::1]:5000/app:latest");
});

test("a digest pins the image; a tag beside it is kept", () => {
  expect(parseReference(`alpine@${DIGEST}`)).toEqual({ registry: "docker.io", repository: "library/alpine", digest: DIGEST });
  expect(canonical(`alpine:3.20@${DIGEST}`)).toBe(`docker.io/library/alpine:3.20@${DIGEST}`);
});

test("malformed references are refused with what is wrong", () => {
  for (const bad of ["", "Alpine", "alpine:", "alpine:-x", "a//b", "alpine@sha256:123", "my_host:5000/../x", "-alpine"]) {
    expect(() => parseReference(bad)).toThrow(BoxliteError);
  }
  expect(() => parseReference("Alpine")).toThrow(/invalid image reference "Alpine": repository names are lowercase/);
  expect(() => parseReference("alpine@sha256:12")).toThrow(/a digest is sha256: and 64 lowercase hex digits/);
});
