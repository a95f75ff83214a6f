import { expect, test } from "bun:test";
import { errorOf } from "../../test/helpers/errors.ts";
import { parseLocalSpec } from "./local.ts";

test("oci: takes a path and an optional tag after the first colon, as skopeo does", () => {
  expect(parseLocalSpec("oci:/images/app")).toEqual({ kind: "oci", path: "/images/app" });
  expect(parseLocalSpec("oci:./app:v1")).toEqual({ kind: "oci", path: "./app", tag: "v1" });
  expect(parseLocalSpec("oci:/images/app:example.com/app:v1")).toEqual({ kind: "oci", path: "/images/app", tag: "example.com/app:v1" });
});

test("docker-archive: takes a path and an optional NAME:TAG", () => {
  expect(parseLocalSpec("docker-archive:/tmp/app.tar")).toEqual({ kind: "docker-archive", path: "/tmp/app.tar" });
  expect(parseLocalSpec("docker-archive:app.tar:example.com/app:v1")).toEqual({ kind: "docker-archive", path: "app.tar", tag: "example.com/app:v1" });
});

test("registry references are not local specs", () => {
  for (const spec of ["alpine", "alpine:3.20", "localhost:5000/app:v1", `docker.io/library/busybox@sha256:${"a".repeat(64)}`, "ocifoo/app", "oci/app:v1"]) {
    expect(parseLocalSpec(spec)).toBeUndefined();
  }
});

test("a local spec without a path or with an empty tag is refused", () => {
  expect(errorOf(() => parseLocalSpec("oci:")).code).toBe("invalid_argument");
  expect(errorOf(() => parseLocalSpec("docker-archive::v1")).message).toContain("names no path");
  expect(errorOf(() => parseLocalSpec("oci:/app:")).message).toContain("empty tag");
});

test("oci-archive: is refused with how to use the layout inside it", () => {
  const error = errorOf(() => parseLocalSpec("oci-archive:/tmp/app.tar"));
  expect(error.code).toBe("unsupported");
  expect(error.message).toContain("oci:DIR");
});
