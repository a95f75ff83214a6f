import { expect, test } from "bun:test";
import { HOST_VOLUMES_REFUSED, imageFromWire, RemoteBoxlite } from "./client.ts";

const wire = { reference: "r:1", repository: "r", tag: "1", id: "sha256:ab", cached_at: "2026-01-01T00:00:00Z" };

test("a server's ImageInfo keeps its size, and one it leaves out or sends as null is null", () => {
  expect(imageFromWire({ ...wire, size_bytes: 42 }).size).toBe(42);
  expect(imageFromWire({ ...wire, size_bytes: null }).size).toBeNull();
  expect(imageFromWire(wire)).toEqual({ ...wire, size: null });
});

test("host-path volumes are refused by the client itself, in the reference's words, before anything is sent", async () => {
  let requests = 0;
  using server = Bun.serve({
    port: 0,
    fetch: () => {
      requests += 1;
      return new Response("{}", { status: 500 });
    },
  });
  const remote = new RemoteBoxlite(`http://127.0.0.1:${server.port}`);
  const volumes = [{ hostPath: "/nowhere/at/all", guestPath: "/data", readOnly: false }];
  await expect(remote.create({ volumes })).rejects.toMatchObject({ code: "unsupported", message: HOST_VOLUMES_REFUSED });
  expect(HOST_VOLUMES_REFUSED.startsWith("host bind mounts are only supported by the local runtime")).toBe(true);
  expect(requests).toBe(0);
});
