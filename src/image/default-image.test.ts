import { expect, test } from "bun:test";
import tarballPath from "../../build/image/default-rootfs.tar.gz" with { type: "file" };
import tarballSumPath from "../../build/image/default-rootfs.tar.gz.sha256" with { type: "file" };
import { sha256Hex } from "../util/fs.ts";

test("the default image's digest, computed by the build, is its embedded tarball's", async () => {
  const sum = (await Bun.file(tarballSumPath).text()).trim();
  expect(sum).toBe(sha256Hex(await Bun.file(tarballPath).bytes()));
});
