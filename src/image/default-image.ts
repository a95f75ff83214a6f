/**
 * The default image embedded in the binary (built by scripts/default-image.ts from
 * Debian's busybox-static), so `boxlite run -- echo hello` works offline.
 */
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import tarballPath from "../../build/image/default-rootfs.tar.gz" with { type: "file" };
import type { Config } from "../config/config.ts";
import { buildExt4FromDir } from "../disk/ext4.ts";
import { cachedFile, sha256Hex } from "../util/fs.ts";
import type { ImageBase } from "./image.ts";
import { readTar } from "./tar.ts";
import { applyEntry } from "./unpack.ts";

export const DEFAULT_IMAGE_NAME = "boxlite/default:latest";

/** Free space in the base; the box's overlay writes into it. */
const BASE_HEADROOM = 1024 * 1024 * 1024;

export async function prepareDefaultImage(config: Config): Promise<ImageBase> {
  const tarball = await Bun.file(tarballPath).bytes();
  const digest = `sha256:${sha256Hex(tarball)}`;
  const basePath = join(config.home, "images", "disk-images", `${digest.replace(":", "-")}.ext4`);
  await cachedFile(basePath, (tmpPath) => {
    const staging = join(config.home, "tmp");
    mkdirSync(staging, { recursive: true });
    const rootfs = mkdtempSync(join(staging, "rootfs-"));
    try {
      for (const entry of readTar(Bun.gunzipSync(tarball), DEFAULT_IMAGE_NAME)) applyEntry(rootfs, entry, DEFAULT_IMAGE_NAME);
      buildExt4FromDir(rootfs, tmpPath, { headroom: BASE_HEADROOM, journal: true });
    } finally {
      rmSync(rootfs, { recursive: true, force: true });
    }
  });
  return {
    name: DEFAULT_IMAGE_NAME,
    digest,
    basePath,
    config: { env: ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], cmd: ["sh"], entrypoint: [], workingDir: "/", user: "" },
  };
}
